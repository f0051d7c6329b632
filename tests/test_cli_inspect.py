"""``export``, ``report``, ``layers``, ``scanners`` and ``affected``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from redis_store import AffectedManifests, IndexReport, Vulnerability, ops
from redis_store.demo import workload
from tests.support import gen
from tests.test_cli_helpers import (
    SHARED_REPORTS,
    Cli,
    assert_consistent,
    make_cli,
    needs_shared,
    populate,
    reports,
)


@pytest.fixture
def cli(backend: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(backend, monkeypatch, capsys)


@pytest.fixture
def stored(cli: Cli) -> list[IndexReport]:
    rs = reports(6, seed=3)
    populate(cli.store(), rs)
    return rs


# -- export ------------------------------------------------------------------------------------


def test_export_one_to_stdout(cli: Cli, stored: list[IndexReport]) -> None:
    d = str(stored[0].hash)
    run = cli("export", d)
    assert run.code == 0 and run.err == ""
    got = cli.store().index_report(d)
    assert got is not None
    assert run.out == got.to_json().decode() + "\n"
    assert IndexReport.from_json(run.out).hash == d


def test_export_several_as_json_lines(cli: Cli, stored: list[IndexReport]) -> None:
    digests = [str(r.hash) for r in stored[:3]]
    run = cli("export", *digests)
    assert run.code == 0
    lines = run.out.splitlines()
    assert [IndexReport.from_json(line).hash for line in lines] == digests
    everything = cli("export", "--all")
    assert sorted(IndexReport.from_json(x).hash or "" for x in everything.out.splitlines()) == (
        sorted(str(r.hash) for r in stored)
    )


def test_export_to_directory_and_import_back(
    cli: Cli, stored: list[IndexReport], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = cli("export", "--all", "--out", str(out), "--json")
    assert run.code == 0
    written = run.json()["written"]
    assert len(written) == len(stored) and run.json()["missing"] == []
    assert sorted(p.name for p in out.iterdir()) == sorted(
        str(r.hash).replace(":", "-") + ".json" for r in stored
    )
    assert not list(out.glob("*.tmp"))
    back = cli("import", str(out), "--namespace", "copy", "--json").json()
    assert back["imported"] == len(stored) and back["failed"] == 0
    copy = cli.store("copy")
    for r in stored:
        a, b = cli.store().index_report(str(r.hash)), copy.index_report(str(r.hash))
        assert a is not None and b is not None
        assert {p.name for p in (a.packages or {}).values()} == {
            p.name for p in (b.packages or {}).values()
        }
    assert_consistent(copy)
    text = cli("export", str(stored[0].hash), "--out", str(tmp_path / "one"))
    assert text.code == 0 and text.out == f"wrote 1 reports to {tmp_path / 'one'}\n"


def test_export_unknown_and_bad_digests(cli: Cli, stored: list[IndexReport]) -> None:
    unknown = str(gen.random_digest())
    run = cli("export", str(stored[0].hash), unknown)
    assert run.code == 1
    assert len(run.out.splitlines()) == 1
    assert f"no report for {unknown}" in run.err
    bad = cli("export", "sha256:xyz")
    assert bad.code == 2 and "bad digest 'sha256:xyz'" in bad.err
    assert cli("export").code == 2
    assert cli("export", "--all", str(stored[0].hash)).code == 2


# -- report, layers, scanners ------------------------------------------------------------------


def test_report_summary_and_json(cli: Cli, stored: list[IndexReport]) -> None:
    r = stored[0]
    run = cli("report", str(r.hash))
    assert run.code == 0
    info = ops.manifest_info(cli.store(), r.hash or "")
    assert info is not None
    lines = dict(line.split(None, 1) for line in run.out.splitlines() if " " in line)
    assert lines["manifest"].strip() == r.hash
    assert lines["state"].startswith("IndexFinished (success)")
    assert lines["layers"].strip() == str(len(info.layers))
    assert lines["packages"].startswith(f"{len(r.packages or {})} ")
    assert "index records" in run.out and "last used" in run.out and "stored" in run.out
    as_json = cli("report", str(r.hash), "--json")
    got = cli.store().index_report(r.hash)
    assert got is not None and as_json.out.strip() == got.to_json().decode()


def test_report_unknown_and_bad(cli: Cli, stored: list[IndexReport]) -> None:
    unknown = str(gen.random_digest())
    run = cli("report", unknown)
    assert run.code == 1 and f"no report for {unknown}" in run.err
    assert cli("report", "nope").code == 2
    assert cli("report").code == 2


@needs_shared
def test_report_of_a_real_claircore_report(cli: Cli, tmp_path: Path) -> None:
    path = next(p for p in SHARED_REPORTS if p.name.startswith("debian"))
    shutil.copy(path, tmp_path)
    assert cli("import", str(tmp_path)).code == 0
    orig = IndexReport.from_json(path.read_bytes())
    run = cli("report", str(orig.hash))
    assert run.code == 0
    assert "Debian GNU/Linux 10 (buster)" in run.out
    assert f"packages       {len(orig.packages or {})} " in run.out
    layers = cli("layers", str(orig.hash), "--json").json()
    assert len(layers["layers"]) == 1
    names = {s["name"] for s in layers["layers"][0]["scanned_by"]}
    assert "os-release" in names


def test_layers(cli: Cli, stored: list[IndexReport]) -> None:
    store = cli.store()
    d = str(stored[1].hash)
    info = ops.manifest_info(store, d)
    assert info is not None
    out = cli("layers", d, "--json").json()
    assert out["manifest"] == d
    assert [x["digest"] for x in out["layers"]] == info.layers
    registry = ops.scanners(store)
    for layer in out["layers"]:
        want = [s for s in registry.values() if store.layer_scanned(layer["digest"], s)]
        assert [tuple(s.values()) for s in layer["scanned_by"]] == [
            (s.name, s.version, s.kind) for s in want
        ]
        assert want
    text = cli("layers", d)
    assert text.code == 0
    assert text.out.startswith(f"manifest {d}: {len(info.layers)} layers\n")
    for i, layer in enumerate(info.layers, 1):
        assert f"{i:>3}  {layer}" in text.out
    missing = cli("layers", str(gen.random_digest()))
    assert missing.code == 1 and "unknown manifest" in missing.err


def test_scanners(cli: Cli, stored: list[IndexReport]) -> None:
    registry = ops.scanners(cli.store())
    out = cli("scanners", "--json").json()
    assert out == [
        {"id": i, "name": s.name, "version": s.version, "kind": s.kind} for i, s in registry.items()
    ]
    text = cli("scanners")
    assert text.out.splitlines()[0].split() == ["ID", "NAME", "VERSION", "KIND"]
    assert len(text.out.splitlines()) == len(registry) + 1
    empty = cli("scanners", "--namespace", "empty", "--json")
    assert empty.code == 0 and empty.json() == []


# -- affected ----------------------------------------------------------------------------------


def _vulns(rs: list[IndexReport], n: int) -> list[Vulnerability]:
    return workload.sample_vulnerabilities(rs, n, seed=4)


def test_affected_single(cli: Cli, stored: list[IndexReport], tmp_path: Path) -> None:
    (v,) = _vulns(stored, 1)
    path = tmp_path / "v.json"
    path.write_bytes(v.to_json())
    want = cli.store().affected_manifests(v)
    assert want  # drawn from a stored package
    run = cli("affected", str(path))
    assert run.code == 0 and run.out.split() == want
    assert cli("affected", str(path), "--json").json() == want
    # a list holding one is still one
    path.write_text(json.dumps([json.loads(v.to_json())]))
    assert cli("affected", str(path), "--json").json() == want


def test_affected_batch(cli: Cli, stored: list[IndexReport], tmp_path: Path) -> None:
    vs = _vulns(stored, 8)
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([json.loads(v.to_json()) for v in vs]))
    want = cli.store().affected_manifests_batch(vs)
    run = cli("affected", str(listed), "--json")
    assert run.code == 0
    got = AffectedManifests.from_json(run.out)
    assert got.to_json() == want.to_json()
    # JSON lines on stdin, and split across two inputs, give the same answer
    lines = b"\n".join(v.to_json() for v in vs[:5]) + b"\n"
    rest = tmp_path / "rest.json"
    rest.write_text("\n".join(v.to_json().decode() for v in vs[5:]))
    both = cli("affected", "-", str(rest), "--json", stdin=lines)
    assert AffectedManifests.from_json(both.out).to_json() == want.to_json()
    text = cli("affected", str(listed))
    assert len(text.out.splitlines()) == len(want.vulnerable_manifests)
    for line in text.out.splitlines():
        digest, *ids = line.split()
        assert ids == want.vulnerable_manifests[digest]  # type: ignore[index]


def test_affected_bad_input(cli: Cli, stored: list[IndexReport], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "CVE-1", "package": ')
    run = cli("affected", str(bad))
    assert run.code == 2 and "bad.json" in run.err and "not JSON" in run.err
    nopkg = tmp_path / "nopkg.json"
    nopkg.write_text('[{"id": "CVE-1", "package": {"name": "zlib"}}, {"id": "CVE-2"}]')
    run = cli("affected", str(nopkg))
    assert run.code == 2 and "nopkg.json: vulnerability 2" in run.err
    assert "package" in run.err
    run = cli("affected", str(tmp_path / "missing.json"))
    assert run.code == 2 and "missing.json: No such file or directory" in run.err
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert cli("affected", str(empty)).code == 2  # usage errors: nothing was asked
    assert cli("affected").code == 2


def test_affected_nothing(cli: Cli, stored: list[IndexReport], tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text('{"id": "CVE-0", "package": {"name": "no-such-package"}}')
    run = cli("affected", str(path), "--json")
    assert run.code == 0 and run.json() == []
