"""Replay an IndexReport through a store exactly as claircore's indexer controller would.

Given a finished report (from Clair, or from the workload generator), this derives what the
layer scanners found and runs the controller's store-call sequence (claircore's
``indexer/controller``: CheckManifest, FetchLayers, ScanLayers, Coalesce, IndexManifest,
IndexFinished, with ``set_index_report`` after every state). The store assigns its own IDs;
the coalesced report it ends with is the original with those IDs.

:func:`import_report` is the safe way to load one report into a live store: checked first,
written under the manifest's lock, and removed again if the replay fails part-way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from redis_store.interrupts import no_interrupts
from redis_store.models import (
    Digest,
    Distribution,
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Package,
    Repository,
    VersionedScanner,
    distribution_identity,
    package_identity,
    repository_identity,
)
from redis_store.store import RedisStore, validate

#: Scanners used for content whose report does not name one (no package detector).
DEFAULT_PACKAGE_SCANNER = VersionedScanner("package-scanner", "1", "package")
DISTRIBUTION_SCANNER = VersionedScanner("os-release", "1", "distribution")
REPOSITORY_SCANNER = VersionedScanner("repository-scanner", "1", "repository")


_pkg_key = package_identity
_dist_key = distribution_identity
_repo_key = repository_identity


@dataclass
class LayerFindings:
    """What each scanner finds in one layer."""

    packages: dict[VersionedScanner, list[Package]] = field(default_factory=dict)
    distributions: list[Distribution] = field(default_factory=list)
    repositories: list[Repository] = field(default_factory=list)


@dataclass
class ReplayPlan:
    """A report taken apart into the manifest and per-layer scanner results."""

    report: IndexReport
    manifest: Manifest
    scanners: list[VersionedScanner]
    layers: dict[str, LayerFindings]


def plan(report: IndexReport) -> ReplayPlan:
    """Derive the manifest (layers = distinct ``introduced_in`` digests) and scan results."""
    if report.hash is None:
        raise ValueError("report has no manifest digest")
    layers: dict[str, LayerFindings] = {}
    scanners: dict[VersionedScanner, None] = {}
    dists = report.distributions or {}
    repos = report.repositories or {}
    # A source that is also a package of the report was one object in the scanner's
    # output; JSON drops the source's normalized version, so take the package's.
    listed = {_pkg_key(p): p for p in (report.packages or {}).values()}
    for pkg in (report.packages or {}).values():
        for env in (report.environments or {}).get(pkg.id) or ():
            if env.introduced_in is None:
                continue
            found = layers.setdefault(env.introduced_in, LayerFindings())
            det = pkg.detector
            scanner = (
                VersionedScanner(det.name, det.version, det.kind)
                if det
                else DEFAULT_PACKAGE_SCANNER
            )
            scanners[scanner] = None
            src = pkg.source
            if src is not None and _pkg_key(src) in listed:
                src = replace(src, normalized_version=listed[_pkg_key(src)].normalized_version)
            found.packages.setdefault(scanner, []).append(
                replace(
                    pkg,
                    id="",
                    package_db=env.package_db,
                    detector=None,
                    source=None if src is None else replace(src, id="", detector=None),
                )
            )
            dist = dists.get(env.distribution_id)
            if dist is not None and all(
                _dist_key(dist) != _dist_key(d) for d in found.distributions
            ):
                found.distributions.append(replace(dist, id=""))
            for rid in env.repository_ids or ():
                repo = repos.get(rid)
                if repo is not None and all(
                    _repo_key(repo) != _repo_key(r) for r in found.repositories
                ):
                    found.repositories.append(replace(repo, id=""))
    scanners[DISTRIBUTION_SCANNER] = None
    scanners[REPOSITORY_SCANNER] = None
    manifest = Manifest(hash=report.hash, layers=[Layer(hash=Digest(d)) for d in layers])
    return ReplayPlan(report, manifest, list(scanners), layers)


def _scan(p: ReplayPlan, store: Any, layer: Layer, s: VersionedScanner) -> None:
    """What scanner ``s`` found in ``layer``, written, then the layer marked scanned."""
    found = p.layers[layer.hash]
    if s.kind == "package":
        store.index_packages(found.packages.get(s, []), layer, s)
    elif s == DISTRIBUTION_SCANNER:
        store.index_distributions(found.distributions, layer, s)
    elif s == REPOSITORY_SCANNER:
        store.index_repositories(found.repositories, layer, s)
    store.set_layer_scanned(layer, s)


def _coalesce(p: ReplayPlan, store: Any, work: IndexReport) -> None:
    """Rebuild the report from what the store returns per layer, with the store's IDs."""
    pkg_scanners = [s for s in p.scanners if s.kind == "package"]
    by_layer: dict[
        str, tuple[dict[Any, Package], dict[Any, Distribution], dict[Any, Repository]]
    ] = {}
    for layer in p.manifest.layers:
        pkgs = {
            (_pkg_key(x), x.package_db): x for x in store.packages_by_layer(layer, pkg_scanners)
        }
        store.repositories_by_layer(layer, pkg_scanners)
        ds = {_dist_key(x): x for x in store.distributions_by_layer(layer, [DISTRIBUTION_SCANNER])}
        rs = {_repo_key(x): x for x in store.repositories_by_layer(layer, [REPOSITORY_SCANNER])}
        store.files_by_layer(layer, [])
        by_layer[layer.hash] = (pkgs, ds, rs)
    orig = p.report
    packages: dict[str, Package] = {}
    dists: dict[str, Distribution] = {}
    repos: dict[str, Repository] = {}
    envs: dict[str, list[Environment]] = {}
    for pkg in (orig.packages or {}).values():
        for env in (orig.environments or {}).get(pkg.id) or ():
            if env.introduced_in is None:
                continue
            pkgs, ds, rs = by_layer[env.introduced_in]
            stored = pkgs[(_pkg_key(pkg), env.package_db)]
            packages[stored.id] = stored
            dist_id = ""
            d = (orig.distributions or {}).get(env.distribution_id)
            if d is not None:
                sd = ds[_dist_key(d)]
                dists[sd.id] = sd
                dist_id = sd.id
            repo_ids: list[str] | None = None
            if env.repository_ids is not None:
                repo_ids = []
                for rid in env.repository_ids:
                    r = (orig.repositories or {}).get(rid)
                    if r is not None:
                        sr = rs[_repo_key(r)]
                        repos[sr.id] = sr
                        repo_ids.append(sr.id)
            envs.setdefault(stored.id, []).append(
                Environment(
                    package_db=env.package_db,
                    introduced_in=env.introduced_in,
                    distribution_id=dist_id,
                    repository_ids=repo_ids,
                )
            )
    work.packages, work.distributions, work.repositories, work.environments = (
        packages,
        dists,
        repos,
        envs,
    )


def replay(
    store: Any,
    report: IndexReport,
    *,
    on_step: Callable[[str, float], None] | None = None,
) -> IndexReport:
    """Index ``report`` into ``store`` in claircore's controller call order.

    Returns the finished report as the store now holds it. ``on_step(state, seconds)`` is
    called after each controller state.
    """
    p = plan(report)
    m, scanners = p.manifest, p.scanners
    work = IndexReport(
        hash=m.hash,
        state="",
        packages={},
        distributions={},
        repositories={},
        environments={},
        success=False,
        err="",
    )
    clock = time.perf_counter()

    def step(state: str) -> None:
        nonlocal clock
        work.state = state
        store.set_index_report(work)
        now = time.perf_counter()
        if on_step is not None:
            on_step(state, now - clock)
        clock = now

    store.register_scanners(scanners)
    # CheckManifest
    if store.manifest_scanned(m.hash, scanners):
        stored = store.index_report(m.hash)
        store.set_index_report(stored)
        return stored  # type: ignore[no-any-return]
    todo = [s for s in scanners if not store.manifest_scanned(m.hash, [s])]
    store.persist_manifest(m)
    work.state = ""
    store.set_index_report(work)
    # FetchLayers
    for layer in m.layers:
        for s in todo:
            if not store.layer_scanned(layer, s):
                break
    step("FetchLayers")
    # ScanLayers
    for layer in m.layers:
        for s in scanners:
            if not store.layer_scanned(layer, s):
                _scan(p, store, layer, s)
    step("ScanLayers")
    # Coalesce
    try:
        _coalesce(p, store, work)
    except KeyError:
        # A layer is marked scanned without all it holds: what its scan wrote was lost (a
        # server restarted from a log that missed its last writes, while the marker written
        # after the restart stayed). Scanning is idempotent: scan those layers again.
        for layer in m.layers:
            for s in scanners:
                _scan(p, store, layer, s)
        _coalesce(p, store, work)
    step("Coalesce")
    store.index_manifest(work)
    step("IndexManifest")
    work.success = True
    work.state = report.state or "IndexFinished"  # the report's own, as claircore stored it
    work.err = report.err
    store.set_index_finished(work, todo)
    step(work.state)
    return work


def check_importable(report: IndexReport) -> None:
    """Raise :class:`ValueError` (naming the fault) unless ``report`` can be imported whole.

    That is: it names its manifest, it is a finished, successful index report, the store
    would accept every value in it, and every package has a name (claircore's
    ``index_packages`` drops a nameless one, so the replay could not finish).
    """
    if report.hash is None:
        raise ValueError("the report has no manifest_hash")
    if not report.success:
        raise ValueError(
            f"not a finished index report (state {report.state!r}, success false"
            + (f", err {report.err!r})" if report.err else ")")
        )
    validate.report(report)  # what the store would refuse, refused before the first write
    for pid, pkg in (report.packages or {}).items():
        if not pkg.name:
            raise ValueError(f"packages[{pid!r}]: a package without a name")


class ImportOutcome(StrEnum):
    """What :func:`import_report` did with a report."""

    #: Written: the manifest had no finished report.
    IMPORTED = "imported"
    #: Nothing written: the same content is stored already.
    UNCHANGED = "unchanged"
    #: Nothing written: a finished report with different content is stored (``force``
    #: replaces it).
    CONFLICT = "conflict"
    #: The stored report was deleted and this one written in its place (``force``).
    REPLACED = "replaced"


def contents(report: IndexReport) -> tuple[Any, ...]:
    """What a report says, without the IDs a store assigns: its state and, per package and
    environment, the package, its source, where it was found, its distribution and its
    repositories. Two reports of one manifest with equal contents say the same thing."""
    dists = report.distributions or {}
    repos = report.repositories or {}
    rows = set()
    for pkg in (report.packages or {}).values():
        source = None if pkg.source is None else _pkg_key(pkg.source)
        for env in (report.environments or {}).get(pkg.id) or ():
            if env.introduced_in is None:
                continue  # not indexed (see plan)
            dist = dists.get(env.distribution_id)
            repo_keys = sorted(_repo_key(repos[r]) for r in env.repository_ids or () if r in repos)
            rows.add(
                (
                    _pkg_key(pkg),
                    source,
                    env.package_db,
                    str(env.introduced_in),
                    None if dist is None else _dist_key(dist),
                    tuple(repo_keys),
                )
            )
    return (report.state or "IndexFinished", bool(report.success), frozenset(rows))


def import_report(
    store: RedisStore, report: IndexReport, *, force: bool = False, lock_timeout: float = 10.0
) -> ImportOutcome:
    """Index a finished report under its manifest lock, whole or not at all.

    A manifest that already has a finished report is left alone: ``UNCHANGED`` when that
    report says the same (:func:`contents`), ``CONFLICT`` when it says something else;
    ``force`` deletes it and imports this one (``REPLACED``). The report is checked first
    (:func:`check_importable`, a :class:`ValueError`), so nothing is written for one that
    could not be imported. A replay that fails or is interrupted part-way deletes what it
    wrote, still holding the lock and ignoring Ctrl-C meanwhile, then re-raises. Waits up to
    ``lock_timeout`` seconds for an indexer holding the lock (then :class:`LockError`).
    """
    check_importable(report)
    d = Digest(report.hash)
    outcome = ImportOutcome.IMPORTED
    with store.manifest_lock(d, timeout=lock_timeout):
        stored = store.index_report(d)
        if stored is not None and stored.success:
            if not force:
                same = contents(stored) == contents(report)
                return ImportOutcome.UNCHANGED if same else ImportOutcome.CONFLICT
            outcome = ImportOutcome.REPLACED
        if force:
            store.delete_manifests(d)  # we hold the lock, so our own delete goes through
        try:
            replay(store, report)
        except BaseException:
            with no_interrupts():
                store.delete_manifests(d)
            raise
    return outcome
