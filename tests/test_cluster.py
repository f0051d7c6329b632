"""The store on a Redis Cluster: data spreads over every primary, and nothing is left behind.

Keys carry hash tags by manifest, layer and package name (``docs/design.md``), so a registry
of manifests spreads over the primaries; only the ``{g}`` dictionaries share one slot. Keys
are counted on each primary's own connection (SCAN of that node alone).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from redis_store import RedisStore, ops, replay
from redis_store.demo import workload
from redis_store.keys import KeyLayout
from redis_store.ops.nodes import primaries
from tests.support.inspect import all_keys
from tests.support.invariants import violations
from tests.support.servers import RedisClusterServers

MANIFESTS = 200


def families_per_primary(store: RedisStore) -> dict[str, Counter[str]]:
    """Key family -> number of keys, for every primary (``host:port``)."""
    k = store.keys
    return {
        name: Counter(k.family(key.decode()) for key in node.scan_iter(match=k.match_pattern()))
        for name, node in primaries(store.client)
    }


@pytest.fixture
def cluster_store(redis_cluster: RedisClusterServers) -> Iterator[RedisStore]:
    redis_cluster.flush()
    store = RedisStore(redis_cluster.client(), namespace="test")
    yield store
    store.close()


@pytest.mark.slow
def test_manifests_spread_over_every_primary_and_delete_to_nothing(
    cluster_store: RedisStore, redis_cluster: RedisClusterServers
) -> None:
    store = cluster_store
    digests = [str(replay.replay(store, r).hash) for r in workload.generate(MANIFESTS, seed=11)]
    assert violations(store.client) == []

    per = families_per_primary(store)
    assert len(per) == redis_cluster.masters
    fair = 1 / redis_cluster.masters
    total = Counter[str]()
    for counts in per.values():
        total.update(counts)
    for name, counts in per.items():
        # every primary holds a substantial share of the manifests, layers and package names
        for family in ("manifest", "manifest:report", "layer", "layer:pkg", "name:records"):
            assert counts[family] >= total[family] * fair / 2, (name, family, dict(counts))
    assert total["manifest"] == MANIFESTS
    # the dictionaries share one slot, so one primary
    assert sum(1 for counts in per.values() if counts["global:pkg"]) == 1
    # every key of the namespace was seen on exactly one primary
    assert sum(total.values()) == len(all_keys(store.client))

    st = ops.store_stats(store)
    assert st.counts["manifests"] == MANIFESTS
    assert st.memory is not None and st.memory["manifest:report"] > 0

    assert store.delete_manifests(*digests) == digests
    assert violations(store.client) == []
    assert all_keys(store.client) == {"test:{g}:scanners", "test:{g}:seq"}
    left = {name: sum(c.values()) for name, c in families_per_primary(store).items()}
    assert sorted(left.values()) == [0] * (redis_cluster.masters - 1) + [2], left


def test_key_layout_tags_spread_slots() -> None:
    """The hash tags themselves: keys of one manifest share a slot, different manifests and
    layers land on many slots (the spread above is not luck of a small sample)."""
    k = KeyLayout("test")
    d = "sha256:" + "ab" * 32
    assert len({key_slot(x.encode()) for x in (k.manifest(d), k.report(d), k.lock(d))}) == 1
    assert len({key_slot(x.encode()) for x in k.layer_keys(d)}) == 1
    assert len({key_slot(x.encode()) for x in k.entity_keys()}) == 1
    manifests = {key_slot(k.manifest(f"sha256:{i:064x}").encode()) for i in range(300)}
    assert len(manifests) > 250
