"""Real claircore reports replayed in the controller's call order (spec §4.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from redis_store import IndexReport, replay
from tests.conftest import SHARED_TESTDATA
from tests.support.inspect import reverse_index

REPORTS = [
    "debian-10.index.json",
    "rhacs-rhel8.index.json",
    "ubi8-micro.index.json",
    "simple.index.json",
]


def load(name: str) -> IndexReport:
    path = SHARED_TESTDATA / name
    if not path.exists():
        pytest.skip(f"{path.name}: claircore testdata not found beside the checkout (../shared)")
    return IndexReport.from_json(Path(path).read_bytes())


def canonical(report: IndexReport) -> list[Any]:
    """The report's content with IDs replaced by identities, order-independent."""
    dists = report.distributions or {}
    repos = report.repositories or {}
    out = []
    for pkg in (report.packages or {}).values():
        src = pkg.source
        for env in (report.environments or {}).get(pkg.id) or ():
            d = dists.get(env.distribution_id)
            out.append(
                (
                    pkg.name,
                    pkg.version,
                    str(pkg.kind),
                    pkg.module,
                    pkg.arch,
                    str(pkg.normalized_version),
                    None
                    if src is None or not src.name
                    else (src.name, src.version, str(src.kind), src.module, src.arch),
                    pkg.detector.name if pkg.detector else None,
                    env.package_db,
                    env.introduced_in,
                    None if d is None else (d.did, d.name, d.version, d.version_id, d.cpe),
                    None
                    if env.repository_ids is None
                    else tuple(
                        sorted(
                            (repos[r].name, repos[r].key, repos[r].uri, repos[r].cpe)
                            for r in env.repository_ids
                            if r in repos
                        )
                    ),
                )
            )
    return sorted(out, key=repr)


def comparable(report: IndexReport, original: IndexReport) -> list[Any]:
    """canonical(report), without detectors where the original report has none (older claircore)."""
    rows = canonical(report)
    if all(p.detector is None for p in (original.packages or {}).values()):
        rows = sorted(((*row[:7], None, *row[8:]) for row in rows), key=repr)
    return rows


@pytest.mark.parametrize("name", REPORTS)
def test_replay_real_report(store: Any, backend: Any, name: str) -> None:
    original = load(name)
    states: list[str] = []
    finished = replay.replay(store, original, on_step=lambda s, _: states.append(s))
    assert states == ["FetchLayers", "ScanLayers", "Coalesce", "IndexManifest", "IndexFinished"]
    stored = store.index_report(original.hash)
    assert stored is not None
    assert stored.state == "IndexFinished" and stored.success is True
    assert stored == IndexReport.from_json(finished.to_json())
    want = canonical(original)
    assert comparable(stored, original) == want
    # every package name of the report is answered by the reverse index
    names = {
        p.name
        for p in (original.packages or {}).values()
        if (original.environments or {}).get(p.id)
    }
    index = reverse_index(backend.client())
    assert names <= set(index)
    assert all(index[n] == {original.hash} for n in names)
    # the second run finds the manifest scanned and changes nothing
    again = replay.replay(store, original)
    assert comparable(again, original) == want


def test_replay_all_reports_into_one_store(store: Any) -> None:
    reports = [load(n) for n in REPORTS]
    for r in reports:
        replay.replay(store, r)
    for r in reports:
        got = store.index_report(r.hash)
        assert got is not None and comparable(got, r) == canonical(r)
    assert store.delete_manifests(*[r.hash for r in reports]) == [r.hash for r in reports]
