"""Check every invariant of the key layout by reading all keys (test use: small stores)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis_store.keys import BUCKET_SIZE, ENTITY_KINDS, KeyLayout
from tests.support.inspect import all_keys


def violations(client: Any, namespace: str = "test") -> list[str]:
    k = KeyLayout(namespace)
    keys = all_keys(client, namespace)
    out: list[str] = []
    manifests = {m.decode(): d.decode() for m, d in client.hgetall(k.manifests).items()}
    refs: dict[str, Counter[str]] = {kind: Counter() for kind in ENTITY_KINDS}
    # manifests: hash, table entry, layers present and listing the manifest
    for mid, d in manifests.items():
        h = {f.decode(): v.decode() for f, v in client.hgetall(k.manifest(d)).items()}
        if h.get("id") != mid:
            out.append(f"manifest {d}: id {h.get('id')} != table {mid}")
        for layer in filter(None, h.get("layers", "").split(",")):
            if mid.encode() not in client.smembers(k.layer(layer)):
                out.append(f"manifest {d}: layer {layer} does not list it")
    # layers: every member a live manifest; artifacts count as references
    for key in keys:
        if key.startswith(f"{namespace}:{{l:") and key.endswith("}"):
            layer = key[len(namespace) + 4 : -1]
            for mid in client.smembers(key):
                if mid.decode() not in manifests:
                    out.append(f"layer {layer}: lists deleted manifest {mid.decode()}")
            for kind in ENTITY_KINDS:
                for art in client.lrange(k.layer_artifacts(layer, kind), 0, -1):
                    head = art.split(b"\n")[0].decode().split(",")
                    refs[kind][head[0]] += 1
                    if kind == "pkg":
                        refs[kind][head[2]] += 1
        elif key.startswith(f"{namespace}:{{l:") and not any(
            key.endswith(s) for s in (":scanned", ":pkg", ":dist", ":repo", ":file")
        ):
            out.append(f"unexpected layer key {key}")
    for key in keys:
        if key.startswith(f"{namespace}:{{l:") and not key.endswith("}"):
            base = key[: key.rindex("}") + 1]
            if base not in keys:
                out.append(f"{key}: layer has no manifest")
    # reverse index: records reference entities; buckets hold live manifests of that bucket
    for key in keys:
        if not (key.startswith(f"{namespace}:{{n:") and key.endswith("}")):
            continue
        name = key[len(namespace) + 4 : -1]
        for rec, buckets in client.hgetall(key).items():
            p, d, r = rec.decode().split(":")
            refs["pkg"][p] += 1
            refs["dist"][d] += d != "0"
            refs["repo"][r] += r != "0"
            for b in buckets.decode().split(","):
                members = client.smembers(k.bucket(name, rec.decode(), int(b)))
                if not members:
                    out.append(f"{key} {rec.decode()}: empty bucket {b}")
                for mid in members:
                    if mid.decode() not in manifests:
                        out.append(f"{key} {rec.decode()}: deleted manifest {mid.decode()}")
                    elif int(mid) // BUCKET_SIZE != int(b):
                        out.append(f"{key} {rec.decode()}: manifest {mid.decode()} in bucket {b}")
                    else:
                        recs = client.hget(k.manifest(manifests[mid.decode()]), "recs") or b""
                        if rec not in recs.split(b","):
                            out.append(f"{key} {rec.decode()}: manifest {mid.decode()} lacks it")
    # dictionaries: refs exact, ids <-> data consistent
    for kind in ENTITY_KINDS:
        stored = {i.decode(): int(n) for i, n in client.hgetall(k.entity_refs(kind)).items()}
        want = {i: n for i, n in refs[kind].items() if n and i != "0"}
        if stored != want:
            out.append(f"{kind} refs {stored} != references {want}")
        data = client.hgetall(k.entity_data(kind))
        ids = client.hgetall(k.entity_ids(kind))
        if {v[:16]: i for i, v in data.items()} != ids:
            out.append(f"{kind}: ids and data disagree")
        if set(i.decode() for i in data) != set(want):
            out.append(f"{kind}: stored entities {len(data)} != referenced {len(want)}")
    return out
