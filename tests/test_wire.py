"""claircore's JSON wire format: real reports, spec examples, bad input, random round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_store.codec import wire
from redis_store.errors import DigestError, InvalidInputError
from redis_store.models import (
    AffectedManifests,
    Alias,
    ArchOp,
    Detector,
    Digest,
    Distribution,
    Environment,
    IndexReport,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Range,
    Repository,
    Severity,
    Version,
    Vulnerability,
    canonical_cpe,
)

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "claircore"
REAL_REPORTS = sorted(TESTDATA.glob("*.index.json")) if TESTDATA.is_dir() else []

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def ordered(x: Any) -> Any:
    """JSON value with dict key order made significant (for key-order assertions)."""
    if isinstance(x, dict):
        return [(k, ordered(v)) for k, v in x.items()]
    if isinstance(x, list):
        return [ordered(v) for v in x]
    return x


def same_json(a: bytes | str, b: bytes | str) -> bool:
    """Equal as parsed objects *and* in key order."""
    return bool(ordered(orjson.loads(a)) == ordered(orjson.loads(b)))


def omitting(keys: list[str], *omitted: str) -> list[str]:
    """``keys`` in order without the ``omitted`` ones (omitempty fields that were empty)."""
    return [k for k in keys if k not in omitted]


#: claircore's JSON keys in order, every omitempty one present.
PACKAGE_KEYS = [
    "id",
    "name",
    "version",
    "kind",
    "source",
    "normalized_version",
    "module",
    "arch",
    "cpe",
    "detector",
]
VULNERABILITY_KEYS = [
    "id",
    "updater",
    "name",
    "description",
    "issued",
    "links",
    "severity",
    "normalized_severity",
    "package",
    "distribution",
    "repository",
    "fixed_in_version",
    "range",
    "arch_op",
    "Self",
    "Aliases",
    "Invert",
]


# --- claircore's defaults, written independently of the codec ------------------------------------

_KINDS = {"source", "binary", "layer", "ancestry"}


def _pkg_defaults(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: p.get(k) or "" for k in ("id", "name", "version")}
    if p.get("kind") in _KINDS:
        out["kind"] = p["kind"]
    if p.get("source") is not None:
        out["source"] = _pkg_defaults(p["source"])
    out["normalized_version"] = p.get("normalized_version") or ""
    for k in ("module", "arch"):
        if p.get(k):
            out[k] = p[k]
    out["cpe"] = canonical_cpe(p.get("cpe") or "")
    out["detector"] = p.get("detector")
    return out


def _dist_defaults(d: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: d.get(k) or ""
        for k in ("id", "did", "name", "version", "version_code_name", "version_id", "arch")
    }
    out["cpe"] = canonical_cpe(d.get("cpe") or "")
    out["pretty_name"] = d.get("pretty_name") or ""
    return out


def _repo_defaults(r: dict[str, Any]) -> dict[str, Any]:
    out = {k: r[k] for k in ("id", "name", "key", "uri") if r.get(k)}
    out["cpe"] = canonical_cpe(r.get("cpe") or "")
    return out


def _env_defaults(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "package_db": e.get("package_db") or "",
        "introduced_in": e.get("introduced_in") or "",
        "distribution_id": e.get("distribution_id") or "",
        "repository_ids": e.get("repository_ids"),
    }


def _sorted_map(m: dict[str, Any] | None, f: Any) -> dict[str, Any] | None:
    return None if m is None else {k: f(m[k]) for k in sorted(m)}


def claircore_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """What claircore writes after reading ``doc``: defaults filled, unknown keys dropped."""
    return {
        "manifest_hash": doc.get("manifest_hash") or "",
        "state": doc.get("state") or "",
        "packages": _sorted_map(doc.get("packages"), _pkg_defaults),
        "distributions": _sorted_map(doc.get("distributions"), _dist_defaults),
        "repository": _sorted_map(doc.get("repository"), _repo_defaults),
        "environments": _sorted_map(
            doc.get("environments"), lambda es: [_env_defaults(e) for e in es]
        ),
        "success": bool(doc.get("success")),
        "err": doc.get("err") or "",
    }


# --- the real reports ----------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_REPORTS, reason=f"no claircore reports in {TESTDATA}")
@pytest.mark.parametrize("path", REAL_REPORTS, ids=lambda p: p.name)
def test_real_report_round_trip(path: Path) -> None:
    data = path.read_bytes()
    report = IndexReport.from_json(data)
    out = report.to_json()
    want = claircore_defaults(orjson.loads(data))
    assert orjson.loads(out) == want
    assert ordered(orjson.loads(out)) == ordered(want)  # claircore's key order too
    again = IndexReport.from_json(out)
    assert again == report
    assert again.to_json() == out
    assert IndexReport.from_json(data.decode()) == report  # str input


@pytest.mark.skipif(not REAL_REPORTS, reason=f"no claircore reports in {TESTDATA}")
def test_real_report_contents() -> None:
    simple = IndexReport.from_json((TESTDATA / "simple.index.json").read_bytes())
    assert simple.hash == "sha256:" + "a" * 64
    assert simple.packages is not None and simple.environments is not None
    a, b = simple.packages["123"], simple.packages["456"]
    assert a.kind is PackageKind.BINARY and a.source is not None
    assert a.source.kind is PackageKind.SOURCE and a.source.detector is None
    assert a.detector == Detector("rhel-package-scanner", "1", "package")
    assert b.source is None and b.detector == Detector("java", "8", "package")
    assert simple.repositories is not None and simple.repositories["12"].uri.startswith("https")
    records = simple.index_records()
    assert [
        (
            r.package.id if r.package else None,
            r.repository.id if r.repository else None,
            r.distribution.id if r.distribution else None,
        )
        for r in records
    ] == [
        ("123", "11", "13"),
        ("456", "12", None),
    ]
    rhacs = TESTDATA / "rhacs-rhel8.index.json"
    if rhacs.exists():
        r = IndexReport.from_json(rhacs.read_bytes())
        assert r.packages is not None and len(r.packages) == 544
        nvs = {p.normalized_version.kind for p in r.packages.values()}
        assert "semver" in nvs


# --- the spec's examples (self-made, always run) -------------------------------------------

SPEC_REPORT = """
{
  "manifest_hash": "sha256:8b277f5e168f773e3dba38bca291a5fd138d56fcdd5008a2f0bf1866d311483b",
  "state": "IndexFinished",
  "packages": {
    "1656": {
      "id": "1656", "name": "gzip", "version": "1.9-3+deb10u1", "kind": "binary",
      "source": {"id": "33", "name": "", "version": "", "normalized_version": "", "cpe": "",
                 "detector": null},
      "normalized_version": "", "arch": "amd64", "cpe": "",
      "detector": "urn:claircore:detector:dpkg:7:package"
    },
    "408": {
      "id": "408", "name": "postgresql", "version": "13.18-1.module+el8.10.0+22549+cf2ec3d9",
      "kind": "binary",
      "source": {"id": "407", "name": "postgresql",
                 "version": "13.18-1.module+el8.10.0+22549+cf2ec3d9", "kind": "source",
                 "normalized_version": "", "module": "postgresql:13", "cpe": "",
                 "detector": null},
      "normalized_version": "", "module": "postgresql:13", "arch": "x86_64", "cpe": "",
      "detector": "urn:claircore:detector:rhel-package-scanner:1:package"
    },
    "5": {
      "id": "5", "name": "github.com/go-errors/errors", "version": "v1.4.2", "kind": "binary",
      "normalized_version": "semver:0.1.4.2.0.0.0.0.0.0", "cpe": "",
      "detector": "urn:claircore:detector:gobin:5:package"
    }
  },
  "distributions": {
    "11": {"id": "11", "did": "debian", "name": "Debian GNU/Linux", "version": "10 (buster)",
           "version_code_name": "buster", "version_id": "10", "arch": "", "cpe": "",
           "pretty_name": "Debian GNU/Linux 10 (buster)"}
  },
  "repository": {
    "2": {"id": "2", "name": "cpe:/o:redhat:enterprise_linux:8::baseos",
          "key": "rhel-cpe-repository",
          "cpe": "cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*"},
    "7": {"id": "7", "name": "go", "uri": "https://pkg.go.dev/", "cpe": ""}
  },
  "environments": {
    "1656": [{"package_db": "var/lib/dpkg/status",
              "introduced_in":
                "sha256:2ff1d7c41c74a25258bfa6f0b8adb0a727f84518f55f65ca845ebc747976c408",
              "distribution_id": "11", "repository_ids": null}],
    "408": [{"package_db": "bdb:var/lib/rpm",
             "introduced_in":
               "sha256:2ff1d7c41c74a25258bfa6f0b8adb0a727f84518f55f65ca845ebc747976c408",
             "distribution_id": "", "repository_ids": ["2"]}],
    "5": [{"package_db": "go:bin/app",
           "introduced_in":
             "sha256:2ff1d7c41c74a25258bfa6f0b8adb0a727f84518f55f65ca845ebc747976c408",
           "distribution_id": "", "repository_ids": []}]
  },
  "success": true,
  "err": ""
}
"""

FRESH_REPORT = (
    '{"manifest_hash":"sha256:' + "c" * 64 + '","state":"","packages":{},"distributions":{},'
    '"repository":{},"environments":{},"success":false,"err":""}'
)

SPEC_VULN = """
{"id": "", "updater": "", "name": "CVE-123", "description": "", "issued": "0001-01-01T00:00:00Z",
 "links": "", "severity": "", "normalized_severity": "Unknown",
 "package": {"id": "", "name": "github.com/go-errors/errors", "version": "",
             "normalized_version": "", "cpe": "", "detector": null},
 "distribution": {"id": "", "did": "", "name": "", "version": "", "version_code_name": "",
                  "version_id": "", "arch": "", "cpe": "", "pretty_name": ""},
 "repository": {"name": "go", "uri": "https://pkg.go.dev/", "cpe": ""},
 "fixed_in_version": "v1.4.3",
 "range": {"[": "semver:0.0.0.1.0.0.0.0.0.0", ")": "semver:0.1.4.3.0.0.0.0.0.0"},
 "Self": {"space": "", "name": ""}, "Aliases": null, "Invert": false}
"""


def _sorted_packages_doc(doc: str) -> bytes:
    """The spec report with its maps in Go's (sorted) key order."""
    obj = orjson.loads(doc)
    for m in ("packages", "distributions", "repository", "environments"):
        obj[m] = {k: obj[m][k] for k in sorted(obj[m])}
    return orjson.dumps(obj)


def test_spec_report_round_trips_exactly() -> None:
    r = IndexReport.from_json(SPEC_REPORT)
    assert orjson.dumps(orjson.loads(r.to_json())) == _sorted_packages_doc(SPEC_REPORT)
    assert r.to_json() == _sorted_packages_doc(SPEC_REPORT)
    assert r.packages is not None and r.environments is not None
    gz = r.packages["1656"]
    assert gz.source == Package(id="33")
    assert gz.arch == "amd64" and gz.module == "" and gz.kind == "binary"
    assert r.packages["408"].source is not None
    assert r.packages["408"].source.module == "postgresql:13"
    assert r.packages["5"].normalized_version == Version("semver", (0, 1, 4, 2))
    assert r.environments["1656"][0].repository_ids is None
    assert r.environments["5"][0].repository_ids == []
    assert r.repositories is not None and r.repositories["7"].key == ""
    assert len(r.index_records()) == 3


def test_fresh_report() -> None:
    r = IndexReport.from_json(FRESH_REPORT)
    assert r == IndexReport(hash=Digest("sha256:" + "c" * 64))
    assert r.to_json() == FRESH_REPORT.encode()
    assert IndexReport(hash=Digest("sha256:" + "c" * 64)).to_json() == FRESH_REPORT.encode()


def test_null_maps_and_missing_keys() -> None:
    r = IndexReport(
        hash=Digest(D1), packages=None, distributions=None, repositories=None, environments=None
    )
    obj = orjson.loads(r.to_json())
    assert obj == {
        "manifest_hash": D1,
        "state": "",
        "packages": None,
        "distributions": None,
        "repository": None,
        "environments": None,
        "success": False,
        "err": "",
    }
    assert IndexReport.from_json(r.to_json()) == r
    # missing maps decode as None (Go's nil maps), as does a missing hash
    assert IndexReport.from_json("{}") == IndexReport(
        packages=None, distributions=None, repositories=None, environments=None
    )
    assert orjson.loads(IndexReport().to_json())["manifest_hash"] == ""


def test_report_key_order_and_omissions() -> None:
    p = Package(id="1", name="n", version="v")
    obj = wire.package_to_obj(p)
    assert list(obj) == omitting(PACKAGE_KEYS, "kind", "source", "module", "arch")
    full = Package(
        id="1",
        name="n",
        version="v",
        kind=PackageKind.BINARY,
        source=Package(id="2"),
        package_db="db",
        filepath="f",
        repository_hint="hint",
        normalized_version=Version("semver", (1,)),
        module="m",
        arch="a",
        cpe="cpe:/a:x:y",
        detector=Detector("d", "1", "package"),
    )
    obj = wire.package_to_obj(full)
    assert list(obj) == PACKAGE_KEYS
    assert obj["cpe"] == "cpe:2.3:a:x:y:*:*:*:*:*:*:*:*"
    assert obj["detector"] == "urn:claircore:detector:d:1:package"
    assert obj["normalized_version"] == "semver:1.0.0.0.0.0.0.0.0.0"
    assert "package_db" not in orjson.dumps(obj).decode()
    assert list(wire.distribution_to_obj(Distribution())) == [
        "id",
        "did",
        "name",
        "version",
        "version_code_name",
        "version_id",
        "arch",
        "cpe",
        "pretty_name",
    ]
    assert wire.repository_to_obj(Repository()) == {"cpe": ""}
    assert list(wire.repository_to_obj(Repository("1", "n", "k", "u", ""))) == [
        "id",
        "name",
        "key",
        "uri",
        "cpe",
    ]
    assert list(wire.environment_to_obj(Environment())) == [
        "package_db",
        "introduced_in",
        "distribution_id",
        "repository_ids",
    ]
    assert wire.environment_to_obj(Environment())["introduced_in"] == ""
    assert list(wire.report_to_obj(IndexReport())) == [
        "manifest_hash",
        "state",
        "packages",
        "distributions",
        "repository",
        "environments",
        "success",
        "err",
    ]


def test_files_and_hidden_fields_are_not_serialised() -> None:
    r = IndexReport(
        hash=Digest(D1),
        packages={
            "1": Package(id="1", name="a", package_db="db", filepath="fp", repository_hint="h")
        },
        files={D1: {"a/.wh.b": "whiteout"}},
    )
    text = r.to_json().decode()
    assert "whiteout" not in text and "fp" not in text and "db" not in text
    back = IndexReport.from_json(text)
    assert back.files is None
    assert back.packages == {"1": Package(id="1", name="a")}


def test_map_keys_sorted_like_go() -> None:
    r = IndexReport(hash=Digest(D1), packages={k: Package(id=k) for k in ("9", "10", "1")})
    assert list(orjson.loads(r.to_json())["packages"]) == ["1", "10", "9"]


def test_decoding_tolerates_what_go_tolerates() -> None:
    doc = {
        "manifest_hash": D1.upper().replace("SHA", "sha"),
        "state": None,
        "packages": {
            "1": {
                "id": "1",
                "name": None,
                "kind": None,
                "source": None,
                "cpe": None,
                "normalized_version": None,
                "detector": None,
                "module": None,
                "scanner_name": "java",
                "unknown": {"deep": [1, 2]},
            },
            "2": {
                "id": "2",
                "kind": "bin",
                "cpe": "cpe:/o:redhat:enterprise_linux:8::baseos",
                "normalized_version": "no-colon-means-zero",
            },
        },
        "distributions": {"3": {"id": "3"}},
        "repository": {"4": {"id": "4", "cpe": None}},
        "environments": {"1": None, "2": [{"repository_ids": [None, "4"]}]},
        "success": None,
        "err": None,
        "extra": True,
    }
    r = wire.report_from_obj(doc)
    assert r.hash == D1
    assert r.state == "" and r.err == "" and r.success is False
    assert r.packages == {
        "1": Package(id="1"),
        "2": Package(id="2", cpe="cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*"),
    }
    assert r.packages["2"].kind is PackageKind.UNKNOWN  # fragments are not names
    assert r.distributions == {"3": Distribution(id="3")}
    assert r.repositories == {"4": Repository(id="4")}
    assert r.environments == {"1": [], "2": [Environment(repository_ids=["", "4"])]}


BAD_REPORTS: list[tuple[str, type[Exception], str]] = [
    ("not json", InvalidInputError, "not JSON"),
    ("", InvalidInputError, "not JSON"),
    ("null", InvalidInputError, "expected a JSON object, got null"),
    ("[]", InvalidInputError, "expected a JSON object, got an array"),
    ('"x"', InvalidInputError, "expected a JSON object, got a string"),
    ('{"manifest_hash": ""}', DigestError, r"^manifest_hash: empty digest"),
    ('{"manifest_hash": "sha256:zz"}', DigestError, r"^manifest_hash: unable to decode"),
    ('{"manifest_hash": "SHA256:' + "a" * 64 + '"}', DigestError, r"^manifest_hash: unknown"),
    ('{"manifest_hash": 5}', DigestError, r"^manifest_hash: expected a digest string"),
    ('{"state": 1}', InvalidInputError, r"^state: expected a string"),
    ('{"err": []}', InvalidInputError, r"^err: expected a string"),
    ('{"success": "true"}', InvalidInputError, r"^success: expected a boolean"),
    ('{"packages": []}', InvalidInputError, r"^packages: expected an object, got an array \(pre"),
    ('{"packages": 1}', InvalidInputError, r"^packages: expected an object, got a number"),
    (
        '{"packages": {"123": null}}',
        InvalidInputError,
        r'^packages\["123"\]: expected an object, got null',
    ),
    (
        '{"packages": {"123": {"name": 5}}}',
        InvalidInputError,
        r'^packages\["123"\]\.name: expected a string, got a number',
    ),
    ('{"packages": {"123": {"kind": 2}}}', InvalidInputError, r'^packages\["123"\]\.kind'),
    (
        '{"packages": {"123": {"source": {"normalized_version": "semver:1.x"}}}}',
        InvalidInputError,
        r'^packages\["123"\]\.source\.normalized_version: invalid normalized',
    ),
    (
        '{"packages": {"123": {"source": {"source": {"normalized_version": 5}}}}}',
        InvalidInputError,
        r'^packages\["123"\]\.source\.source\.normalized_version: expected',
    ),
    (
        '{"packages": {"1": {"normalized_version": "k:1.2.3.4.5.6.7.8.9.10.11"}}}',
        InvalidInputError,
        r'^packages\["1"\]\.normalized_version: .*11 components',
    ),
    (
        '{"packages": {"1": {"source": "x"}}}',
        InvalidInputError,
        r'^packages\["1"\]\.source: expected an object, got a string',
    ),
    (
        '{"packages": {"1": {"cpe": "cpe:/x:bad"}}}',
        InvalidInputError,
        r'^packages\["1"\]\.cpe: invalid CPE',
    ),
    ('{"packages": {"1": {"cpe": 7}}}', InvalidInputError, r'^packages\["1"\]\.cpe: expected'),
    (
        '{"packages": {"1": {"detector": "urn:claircore:detector:a:b"}}}',
        InvalidInputError,
        r'^packages\["1"\]\.detector: invalid detector uri',
    ),
    (
        '{"packages": {"1": {"detector": "urn:claircore:detector:a:b:c:d"}}}',
        InvalidInputError,
        r'^packages\["1"\]\.detector: invalid detector uri',
    ),
    (
        '{"packages": {"1": {"detector": ""}}}',
        InvalidInputError,
        r'^packages\["1"\]\.detector: invalid detector uri',
    ),
    (
        '{"packages": {"1": {"detector": {"name": "x"}}}}',
        InvalidInputError,
        r'^packages\["1"\]\.detector: expected a detector URN string',
    ),
    (
        '{"distributions": {"1": {"cpe": 5}}}',
        InvalidInputError,
        r'^distributions\["1"\]\.cpe: expected',
    ),
    (
        '{"distributions": {"1": {"pretty_name": []}}}',
        InvalidInputError,
        r'^distributions\["1"\]\.pretty_name: expected a string',
    ),
    ('{"distributions": {"1": null}}', InvalidInputError, r'^distributions\["1"\]: expected'),
    ('{"distributions": []}', InvalidInputError, r"^distributions: expected an object"),
    (
        '{"repository": {"r\\"1": {"uri": 5}}}',
        InvalidInputError,
        r'^repository\["r\\"1"\]\.uri: expected a string',
    ),
    (
        '{"environments": {"1": "x"}}',
        InvalidInputError,
        r'^environments\["1"\]: expected an array, got a string',
    ),
    (
        '{"environments": {"1": [null]}}',
        InvalidInputError,
        r'^environments\["1"\]\[0\]: expected an object, got null',
    ),
    (
        '{"environments": {"1": [{}, {"introduced_in": ""}]}}',
        DigestError,
        r'^environments\["1"\]\[1\]\.introduced_in: empty digest',
    ),
    (
        '{"environments": {"1": [{"introduced_in": "sha256:00"}]}}',
        DigestError,
        r'^environments\["1"\]\[0\]\.introduced_in: bad checksum length: 1',
    ),
    (
        '{"environments": {"1": [{"introduced_in": 5}]}}',
        DigestError,
        r'^environments\["1"\]\[0\]\.introduced_in: expected a digest string',
    ),
    (
        '{"environments": {"1": [{"repository_ids": "2"}]}}',
        InvalidInputError,
        r'^environments\["1"\]\[0\]\.repository_ids: expected an array',
    ),
    (
        '{"environments": {"1": [{"repository_ids": ["2", 3]}]}}',
        InvalidInputError,
        r'^environments\["1"\]\[0\]\.repository_ids\[1\]: expected a string',
    ),
    (
        '{"environments": {"1": [{"package_db": 1}]}}',
        InvalidInputError,
        r'^environments\["1"\]\[0\]\.package_db: expected a string',
    ),
]


@pytest.mark.parametrize(("doc", "exc", "pattern"), BAD_REPORTS)
def test_malformed_reports(doc: str, exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        IndexReport.from_json(doc)
    with pytest.raises(exc, match=pattern):
        IndexReport.from_json(doc.encode())


def test_malformed_input_types() -> None:
    with pytest.raises(InvalidInputError, match="expected JSON bytes or str"):
        IndexReport.from_json(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="expected JSON bytes or str"):
        IndexReport.from_json({"manifest_hash": D1})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not JSON"):
        IndexReport.from_json(b"\xff\xfe")
    assert IndexReport.from_json(bytearray(FRESH_REPORT.encode())).hash == "sha256:" + "c" * 64


def test_encoding_refuses_undecodable_detector() -> None:
    r = IndexReport(
        hash=Digest(D1),
        packages={"7": Package(id="7", name="x", detector=Detector("a:b", "1", "package"))},
    )
    with pytest.raises(InvalidInputError, match=r'^packages\["7"\]: detector'):
        r.to_json()


def test_unit_codecs_name_their_path() -> None:
    with pytest.raises(InvalidInputError, match=r"^package\.source\.name"):
        wire.package_from_obj({"source": {"name": 1}})
    with pytest.raises(InvalidInputError, match=r"^pkgs\.arch"):
        wire.package_from_obj({"arch": 1}, "pkgs")
    with pytest.raises(InvalidInputError, match=r"^distribution: expected an object"):
        wire.distribution_from_obj([])
    with pytest.raises(InvalidInputError, match=r"^repository\.key"):
        wire.repository_from_obj({"key": False})
    with pytest.raises(DigestError, match=r"^environment\.introduced_in"):
        wire.environment_from_obj({"introduced_in": "x"})
    assert wire.environment_from_obj({}) == Environment()
    assert wire.repository_from_obj({"cpe": ""}) == Repository()


# --- Manifest / Layer ----------------------------------------------------------------------------


def test_manifest_round_trip() -> None:
    m = Manifest(
        Digest(D1),
        [Layer(Digest(D2)), Layer(Digest(D1), "https://x/l", {"b": ["2"], "a": ["1", "3"]})],
    )
    text = m.to_json()
    assert orjson.loads(text) == {
        "hash": D1,
        "layers": [
            {"hash": D2, "uri": "", "headers": None},
            {"hash": D1, "uri": "https://x/l", "headers": {"a": ["1", "3"], "b": ["2"]}},
        ],
    }
    assert Manifest.from_json(text) == m
    assert Manifest.from_json('{"hash": "' + D1 + '", "layers": null}') == Manifest(Digest(D1))
    assert Manifest.from_json('{"hash": "' + D1 + '"}').layers == []


@pytest.mark.parametrize(
    ("doc", "exc", "pattern"),
    [
        ("null", InvalidInputError, "manifest: expected a JSON object"),
        ("{}", DigestError, r"^hash: missing manifest digest"),
        ('{"hash": ""}', DigestError, r"^hash: empty digest"),
        ('{"hash": "sha256:1"}', DigestError, r"^hash: unable to decode"),
        ('{"hash": "' + D1 + '", "layers": {}}', InvalidInputError, r"^layers: expected an array"),
        (
            '{"hash": "' + D1 + '", "layers": [null]}',
            InvalidInputError,
            r"^layers\[0\]: expected an object, got null",
        ),
        (
            '{"hash": "' + D1 + '", "layers": [{"hash": "' + D2 + '"}, {}]}',
            DigestError,
            r"^layers\[1\]\.hash: missing layer digest",
        ),
        (
            '{"hash": "' + D1 + '", "layers": [{"hash": "' + D2 + '", "headers": {"a": "b"}}]}',
            InvalidInputError,
            r'^layers\[0\]\.headers\["a"\]',
        ),
        (
            '{"hash": "' + D1 + '", "layers": [{"hash": "' + D2 + '", "uri": 1}]}',
            InvalidInputError,
            r"^layers\[0\]\.uri: expected a string",
        ),
    ],
)
def test_malformed_manifests(doc: str, exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        Manifest.from_json(doc)


# --- Vulnerability / AffectedManifests ---------------------------------------------------------


def test_spec_vulnerability_round_trips_exactly() -> None:
    v = Vulnerability.from_json(SPEC_VULN)
    assert v.name == "CVE-123"
    assert v.package == Package(name="github.com/go-errors/errors")
    assert v.distribution == Distribution()
    assert v.repository == Repository(name="go", uri="https://pkg.go.dev/")
    assert v.range == Range(Version("semver", (0, 0, 0, 1)), Version("semver", (0, 1, 4, 3)))
    assert v.arch_op is ArchOp.INVALID and v.self == Alias() and v.aliases is None
    assert v.normalized_severity is Severity.UNKNOWN and v.invert is False
    assert same_json(v.to_json(), SPEC_VULN)
    assert Vulnerability.from_json(v.to_json()) == v


def test_vulnerability_omissions_and_full() -> None:
    bare = orjson.loads(Vulnerability().to_json())
    omitempty = ("distribution", "repository", "range", "arch_op")
    assert list(bare) == omitting(VULNERABILITY_KEYS, *omitempty)
    assert bare["package"] is None and bare["issued"] == "0001-01-01T00:00:00Z"
    full = Vulnerability(
        id="42",
        updater="rhel-vex",
        name="CVE-2024-1",
        description="d",
        issued="2024-05-01T12:30:00.5+02:00",
        links="https://a https://b",
        severity="Important",
        normalized_severity=Severity.HIGH,
        package=Package(name="openssl", kind=PackageKind.BINARY, arch="x86_64"),
        distribution=Distribution(did="rhel", version_id="8"),
        repository=Repository(
            name="cpe:/o:redhat:enterprise_linux:8::baseos", key="rhel-cpe-repository"
        ),
        fixed_in_version="1:1.1.1k-12.el8_9",
        range=None,
        arch_op=ArchOp.PATTERN_MATCH,
        self=Alias("https://access.redhat.com/security/cve/", "CVE-2024-1"),
        aliases=[Alias("CVE", "CVE-2024-1")],
        invert=True,
    )
    obj = orjson.loads(full.to_json())
    assert list(obj) == omitting(VULNERABILITY_KEYS, "range")  # range=None
    assert obj["normalized_severity"] == "High" and obj["arch_op"] == "pattern match"
    assert obj["Aliases"] == [{"space": "CVE", "name": "CVE-2024-1"}]
    assert Vulnerability.from_json(full.to_json()) == full


def test_vulnerability_null_package_decodes() -> None:
    v = Vulnerability.from_json('{"name": "CVE-1", "package": null}')
    assert v.package is None and v.name == "CVE-1"
    assert Vulnerability.from_json('{"arch_op": "equal"}').arch_op is ArchOp.INVALID


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ("null", "vulnerability: expected a JSON object"),
        ('{"issued": "yesterday"}', r"^issued: expected an RFC 3339"),
        ('{"issued": 5}', r"^issued"),
        ('{"normalized_severity": "Severe"}', r"^normalized_severity: unknown severity"),
        ('{"package": {"name": 5}}', r"^package\.name: expected a string"),
        ('{"distribution": {"cpe": "nope"}}', r"^distribution\.cpe: invalid CPE"),
        ('{"repository": []}', r"^repository: expected an object"),
        ('{"range": {"[": "semver:x"}}', r'^range\["\["\]: invalid normalized version'),
        ('{"range": 5}', r"^range: expected an object"),
        ('{"arch_op": 1}', r"^arch_op: expected a string"),
        ('{"Self": 5}', r"^Self: expected an object"),
        ('{"Aliases": [{"space": 1}]}', r"^Aliases\[0\]\.space: expected a string"),
        ('{"Aliases": {}}', r"^Aliases: expected an array"),
        ('{"Invert": "yes"}', r"^Invert: expected a boolean"),
    ],
)
def test_malformed_vulnerabilities(doc: str, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        Vulnerability.from_json(doc)


def test_affected_manifests() -> None:
    low = Vulnerability(id="1", name="CVE-low", normalized_severity=Severity.LOW)
    high = Vulnerability(id="2", name="CVE-high", normalized_severity=Severity.HIGH)
    am = AffectedManifests()
    am.add(low, D2, D1)
    am.add(high, Digest(D1))
    am.sort()
    assert am.vulnerable_manifests == {D2: ["1"], D1: ["2", "1"]}
    obj = orjson.loads(am.to_json())
    assert list(obj) == ["vulnerabilities", "vulnerable_manifests"]
    assert list(obj["vulnerable_manifests"]) == [D1, D2]  # sorted like Go's map keys
    assert obj["vulnerabilities"]["2"]["name"] == "CVE-high"
    back = AffectedManifests.from_json(am.to_json())
    assert back == am
    assert all(type(k) is Digest for k in back.vulnerable_manifests)
    assert orjson.loads(AffectedManifests().to_json()) == {
        "vulnerabilities": {},
        "vulnerable_manifests": {},
    }
    with pytest.raises(DigestError, match=r'^vulnerable_manifests\["x"\]'):
        AffectedManifests.from_json('{"vulnerable_manifests": {"x": []}}')
    with pytest.raises(InvalidInputError, match=r'^vulnerabilities\["1"\]\.name'):
        AffectedManifests.from_json('{"vulnerabilities": {"1": {"name": 1}}}')


# --- property tests ------------------------------------------------------------------------------

_TEXT = st.text(max_size=8)
_IDS = st.integers(1, 2**64 - 1).map(str)
_CPES = st.sampled_from(
    [
        "",
        "cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*",
        "cpe:2.3:a:redhat:rhel_eus:8.6:*:appstream:*:*:*:*:*",
        r"cpe:2.3:a:foo\\bar:big\$money:2010:*:*:*:special:ipod_touch:80gb:*",
        "cpe:2.3:a:hp:insight:7.4.0.1570:-:*:*:online:win2003:x64:*",
    ]
)
_NO_COLON = st.text(max_size=6).filter(lambda s: ":" not in s)
_VERSIONS = st.one_of(
    st.just(Version()),
    st.builds(
        Version,
        kind=_NO_COLON.filter(bool),
        v=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=10, max_size=10).map(tuple),
    ),
)
_DETECTORS = st.one_of(st.none(), st.builds(Detector, _NO_COLON, _NO_COLON, _NO_COLON))
_DIGESTS = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: Digest("sha256:" + b.hex())),
    st.binary(min_size=64, max_size=64).map(lambda b: Digest("sha512:" + b.hex())),
)


def _packages(source: st.SearchStrategy[Package | None]) -> st.SearchStrategy[Package]:
    return st.builds(
        Package,
        id=_IDS,
        name=_TEXT,
        version=_TEXT,
        kind=st.sampled_from(PackageKind),
        source=source,
        normalized_version=_VERSIONS,
        module=_TEXT,
        arch=_TEXT,
        cpe=_CPES,
        detector=_DETECTORS,
    )


_PACKAGES = _packages(st.one_of(st.none(), _packages(st.none())))
_DISTS = st.builds(Distribution, _IDS, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _CPES, _TEXT)
_REPOS = st.builds(Repository, _IDS, _TEXT, _TEXT, _TEXT, _CPES)
_ENVS = st.builds(
    Environment,
    package_db=_TEXT,
    introduced_in=_DIGESTS,
    distribution_id=st.one_of(st.just(""), _IDS),
    repository_ids=st.one_of(st.none(), st.lists(_IDS, max_size=3)),
)


def _maybe_map(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any] | None]:
    return st.one_of(st.none(), st.dictionaries(_IDS, values, max_size=4))


@st.composite
def reports(draw: st.DrawFn) -> IndexReport:
    packages = draw(st.one_of(st.none(), st.lists(_PACKAGES, max_size=5)))
    pkg_map = None if packages is None else {p.id: p for p in packages}
    envs: dict[str, list[Environment]] | None = draw(_maybe_map(st.lists(_ENVS, max_size=3)))
    if envs is not None and pkg_map:
        for pid in pkg_map:
            envs[pid] = draw(st.lists(_ENVS, max_size=3))
    return IndexReport(
        hash=draw(_DIGESTS),
        state=draw(st.sampled_from(["", "CheckManifest", "IndexFinished", "IndexError"])),
        packages=pkg_map,
        distributions=draw(_maybe_map(_DISTS)),
        repositories=draw(_maybe_map(_REPOS)),
        environments=envs,
        success=draw(st.booleans()),
        err=draw(_TEXT),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_random_reports_round_trip(report: IndexReport) -> None:
    text = report.to_json()
    back = IndexReport.from_json(text)
    assert back == report
    assert back.to_json() == text
    assert len(back.index_records()) == len(report.index_records())


@given(_PACKAGES)
def test_random_packages_round_trip(p: Package) -> None:
    assert wire.package_from_obj(orjson.loads(orjson.dumps(wire.package_to_obj(p)))) == p


_VULNS = st.builds(
    Vulnerability,
    id=_TEXT,
    name=_TEXT,
    issued=st.sampled_from(["0001-01-01T00:00:00Z", "2024-02-29T23:59:59.123456789-07:00"]),
    normalized_severity=st.sampled_from(Severity),
    package=st.one_of(st.none(), _PACKAGES),
    distribution=st.one_of(st.none(), _DISTS),
    repository=st.one_of(st.none(), _REPOS),
    fixed_in_version=_TEXT,
    range=st.one_of(st.none(), st.builds(Range, _VERSIONS, _VERSIONS)),
    arch_op=st.sampled_from(ArchOp),
    self=st.builds(Alias, _TEXT, _TEXT),
    aliases=st.one_of(st.none(), st.lists(st.builds(Alias, _TEXT, _TEXT), max_size=2)),
    invert=st.booleans(),
)


@given(_VULNS)
def test_random_vulnerabilities_round_trip(v: Vulnerability) -> None:
    assert Vulnerability.from_json(v.to_json()) == v


@pytest.mark.parametrize(
    "document",
    [
        '{"package_introduced": {}}',
        '{"manifest_hash": "' + D1 + '", "distribution_by_package": {}}',
        '{"environments": {"1": [{"repository_id": "2", "package_db": "db"}]}}',
        '{"environments": {"1": [{"repository_id": "2", "repository_ids": ["3"]}]}}',
    ],
)
def test_unknown_keys_are_ignored_as_claircore_does(document: str) -> None:
    """claircore's decoder ignores keys it does not know, including those of the 2019
    format (``package_introduced``, an environment's ``repository_id``)."""
    report = IndexReport.from_json(document)
    for envs in (report.environments or {}).values():
        assert envs[0].repository_ids in (None, ["3"])  # repository_id is not read
