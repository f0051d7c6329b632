"""claircore's indexer controller as the store calls it makes, for any store.

:func:`plan` takes a finished IndexReport apart into its manifest and what each layer
scanner found; :func:`controller` runs claircore's controller states over it (CheckManifest,
FetchLayers, ScanLayers, Coalesce, IndexManifest, IndexFinished) as a generator of
:class:`StoreCall`. :func:`drive` makes those calls on a blocking store
(:func:`redis_store.replay.replay`). The store assigns its own IDs; the report the controller
ends with is the original with those IDs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

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

R = TypeVar("R")

#: Scanners used for content whose report does not name one (no package detector).
DEFAULT_PACKAGE_SCANNER = VersionedScanner("package-scanner", "1", "package")
DISTRIBUTION_SCANNER = VersionedScanner("os-release", "1", "distribution")
REPOSITORY_SCANNER = VersionedScanner("repository-scanner", "1", "repository")


_pkg_key = package_identity
_dist_key = distribution_identity
_repo_key = repository_identity


@dataclass(frozen=True, slots=True)
class StoreCall:
    """One call of a Store method the controller makes."""

    method: str
    args: tuple[Any, ...]


#: claircore's controller as a generator: yields the store calls it makes, is sent each
#: call's result (or has its error thrown in), returns what it ends with. Driven against a
#: blocking store by :func:`drive`, and inside a store's own operations by the cache tier.
Controller = Generator[StoreCall, Any, R]


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


def _scan(p: ReplayPlan, layer: Layer, s: VersionedScanner) -> Controller[None]:
    """What scanner ``s`` found in ``layer``, written, then the layer marked scanned."""
    found = p.layers[layer.hash]
    if s.kind == "package":
        yield StoreCall("index_packages", (found.packages.get(s, []), layer, s))
    elif s == DISTRIBUTION_SCANNER:
        yield StoreCall("index_distributions", (found.distributions, layer, s))
    elif s == REPOSITORY_SCANNER:
        yield StoreCall("index_repositories", (found.repositories, layer, s))
    yield StoreCall("set_layer_scanned", (layer, s))


def _coalesce(p: ReplayPlan, work: IndexReport) -> Controller[None]:
    """Rebuild the report from what the store returns per layer, with the store's IDs."""
    pkg_scanners = [s for s in p.scanners if s.kind == "package"]
    by_layer: dict[
        str, tuple[dict[Any, Package], dict[Any, Distribution], dict[Any, Repository]]
    ] = {}
    for layer in p.manifest.layers:
        found = yield StoreCall("packages_by_layer", (layer, pkg_scanners))
        pkgs = {(_pkg_key(x), x.package_db): x for x in found}
        yield StoreCall("repositories_by_layer", (layer, pkg_scanners))
        found = yield StoreCall("distributions_by_layer", (layer, [DISTRIBUTION_SCANNER]))
        ds = {_dist_key(x): x for x in found}
        found = yield StoreCall("repositories_by_layer", (layer, [REPOSITORY_SCANNER]))
        rs = {_repo_key(x): x for x in found}
        yield StoreCall("files_by_layer", (layer, []))
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


def controller(
    report: IndexReport,
    *,
    on_step: Callable[[str, float], None] | None = None,
    intermediate: bool = True,
) -> Controller[IndexReport]:
    """claircore's controller indexing ``report``, as the store calls it makes.

    Returns the finished report as the store then holds it. ``on_step(state, seconds)`` is
    called after each controller state. ``intermediate=False`` leaves out the report writes
    between states (an import has no one to show them to): the report then appears only
    finished, so an import cut short leaves no report behind and is simply done again.
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

    def step(state: str) -> Controller[None]:
        nonlocal clock
        work.state = state
        if intermediate:
            yield StoreCall("set_index_report", (work,))
        now = time.perf_counter()
        if on_step is not None:
            on_step(state, now - clock)
        clock = now

    yield StoreCall("register_scanners", (scanners,))
    # CheckManifest
    if (yield StoreCall("manifest_scanned", (m.hash, scanners))):
        stored: IndexReport = yield StoreCall("index_report", (m.hash,))
        yield StoreCall("set_index_report", (stored,))
        return stored
    todo = []
    for s in scanners:
        if not (yield StoreCall("manifest_scanned", (m.hash, [s]))):
            todo.append(s)
    yield StoreCall("persist_manifest", (m,))
    work.state = ""
    if intermediate:
        yield StoreCall("set_index_report", (work,))
    # FetchLayers
    for layer in m.layers:
        for s in todo:
            if not (yield StoreCall("layer_scanned", (layer, s))):
                break
    yield from step("FetchLayers")
    # ScanLayers
    for layer in m.layers:
        for s in scanners:
            if not (yield StoreCall("layer_scanned", (layer, s))):
                yield from _scan(p, layer, s)
    yield from step("ScanLayers")
    # Coalesce
    try:
        yield from _coalesce(p, work)
    except KeyError:
        # A layer is marked scanned without all it holds: what its scan wrote was lost (a
        # server restarted from a log that missed its last writes, while the marker written
        # after the restart stayed). Scanning is idempotent: scan those layers again.
        for layer in m.layers:
            for s in scanners:
                yield from _scan(p, layer, s)
        yield from _coalesce(p, work)
    yield from step("Coalesce")
    yield StoreCall("index_manifest", (work,))
    yield from step("IndexManifest")
    work.success = True
    work.state = report.state or "IndexFinished"  # the report's own, as claircore stored it
    work.err = report.err
    yield StoreCall("set_index_finished", (work, todo))
    yield from step(work.state)
    return work


def drive(store: Any, calls: Controller[R]) -> R:
    """Run a controller against a blocking store: each call made, its error thrown back."""
    result: Any = None
    error: Exception | None = None
    try:
        while True:
            call = calls.send(result) if error is None else calls.throw(error)
            try:
                result, error = getattr(store, call.method)(*call.args), None
            except Exception as e:
                error = e
    except StopIteration as stop:
        done: R = stop.value
        return done
