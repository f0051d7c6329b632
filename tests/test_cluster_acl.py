"""ACL users on a Redis Cluster: the store and the ops functions run with the rules of
:mod:`redis_store.acl` (``cluster=True``), set on every node, and nothing is denied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from redis_store import RedisStore, acl, ops
from redis_store.demo.workload import generate, sample_vulnerabilities
from redis_store.replay import replay
from tests.support.servers import RedisClusterServers

NS = "aclns"
USERS = {"indexer": False, "fsck": True}  # name -> ops rules


@pytest.fixture
def cluster(redis_cluster: RedisClusterServers) -> Iterator[RedisClusterServers]:
    redis_cluster.flush()
    for node in redis_cluster.nodes():
        for user, with_ops in USERS.items():
            node.execute_command(*acl.setuser_command(user, "pw", NS, ops=with_ops, cluster=True))
        node.acl_log_reset()
    yield redis_cluster
    for node in redis_cluster.nodes():
        node.acl_deluser(*USERS)


def as_user(cluster: RedisClusterServers, user: str) -> RedisStore:
    client = RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", p) for p in cluster.ports],
        username=user,
        password="pw",
    )
    return RedisStore(client, namespace=NS)


def denials(cluster: RedisClusterServers) -> list[object]:
    return [entry for node in cluster.nodes() for entry in node.acl_log()]


def test_store_and_ops_users_on_a_cluster(cluster: RedisClusterServers) -> None:
    reports = list(generate(8, seed=21))
    with as_user(cluster, "indexer") as store:
        assert store.cluster
        for r in reports:
            replay(store, r)
        vulns = sample_vulnerabilities(reports, 50, seed=1)
        assert store.affected_manifests_batch(vulns).vulnerable_manifests
        with store.manifest_lock(reports[0].hash):
            pass
        cluster.client().script_flush()  # every script reloaded, as the indexer
        assert store.index_report(reports[0].hash) is not None
        assert store.delete_manifests(reports[0].hash) == [reports[0].hash]
        assert denials(cluster) == []
        with pytest.raises(redis.exceptions.NoPermissionError):
            store.client.set("other:key", b"x")  # outside the namespace
        for node in cluster.nodes():
            node.acl_log_reset()
    with as_user(cluster, "fsck") as admin:
        assert ops.check(admin) == []
        ops.collect(admin)
        ops.store_stats(admin)
        assert admin.delete_manifests(*(r.hash for r in reports[1:])) == [
            r.hash for r in reports[1:]
        ]
    assert denials(cluster) == []


def test_cluster_rules_add_discovery_only() -> None:
    plain = set(acl.rules(NS))
    clustered = set(acl.rules(NS, cluster=True))
    assert clustered - plain == {f"+{c}" for c in acl.CLUSTER_COMMANDS}
