"""Models: Digest, Version/Range/ArchOp/Severity, PackageKind, Detector, entities, IndexRecords."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_store.errors import DigestError, InvalidInputError, StoreError
from redis_store.models import (
    ArchOp,
    Detector,
    Digest,
    Distribution,
    Environment,
    File,
    IndexRecord,
    IndexReport,
    Layer,
    Manifest,
    Package,
    PackageKind,
    Range,
    Repository,
    Severity,
    Version,
    VersionedScanner,
    as_digest,
)

H64 = "0123456789abcdef" * 4  # 32 bytes
H128 = H64 * 2  # 64 bytes
D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


# --- Digest ----------------------------------------------------------------------------------


class TestDigest:
    def test_sha256_and_sha512(self) -> None:
        d = Digest("sha256:" + H64)
        assert d == "sha256:" + H64
        assert isinstance(d, str)
        assert d.algorithm == "sha256"
        assert d.checksum == bytes.fromhex(H64)
        assert len(d.checksum) == 32
        e = Digest("sha512:" + H128)
        assert e.algorithm == "sha512"
        assert len(e.checksum) == 64

    def test_uppercase_hex_is_normalised(self) -> None:
        d = Digest("sha256:" + H64.upper())
        assert d == "sha256:" + H64
        assert str(d) == "sha256:" + H64
        mixed = Digest("sha512:" + "AbCdEf" * 21 + "Ab")
        assert mixed == "sha512:" + ("abcdef" * 21 + "ab")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "invalid digest format"),
            ("sha256" + H64, "invalid digest format"),
            # hex decoding runs before the algorithm check
            ("md5:zz", "unable to decode digest as hex"),
            ("sha256:" + H64[:-1], "unable to decode digest as hex"),  # odd length
            ("sha256:" + H64[:-2] + "zz", "unable to decode digest as hex"),
            ("sha256: " + H64[1:], "unable to decode digest as hex"),  # no whitespace
            ("sha256:" + H64 + ":x", "unable to decode digest as hex"),  # first ':' splits
            # the algorithm is case-sensitive and only sha256/sha512 exist
            ("SHA256:" + H64, "unknown algorithm"),
            ("md5:" + "00" * 16, "unknown algorithm"),
            (":" + H64, "unknown algorithm"),
            # exact length
            ("sha256:", "bad checksum length: 0"),
            ("sha256:" + H64[:-2], "bad checksum length: 31"),
            ("sha256:" + H64 + "00", "bad checksum length: 33"),
            ("sha512:" + H64, "bad checksum length: 32"),
            ("sha256:" + H128, "bad checksum length: 64"),
        ],
    )
    def test_invalid(self, text: str, message: str) -> None:
        with pytest.raises(DigestError, match=message):
            Digest(text)

    def test_errors_are_store_errors_and_value_errors(self) -> None:
        with pytest.raises(StoreError):
            Digest("nope")
        with pytest.raises(ValueError):
            Digest("nope")

    def test_non_string(self) -> None:
        with pytest.raises(DigestError, match="expected a digest string"):
            Digest(b"sha256:" + H64.encode())
        with pytest.raises(DigestError):
            Digest(None)

    def test_from_digest_is_cheap_identity(self) -> None:
        d = Digest(D1)
        assert Digest(d) is d

    def test_hash_eq_pickle_copy(self) -> None:
        d = Digest("sha256:" + H64.upper())
        table: dict[str, int] = {d: 1}
        assert table["sha256:" + H64] == 1
        assert hash(d) == hash("sha256:" + H64)
        for clone in (pickle.loads(pickle.dumps(d)), copy.copy(d), copy.deepcopy(d)):
            assert clone == d
            assert type(clone) is Digest
        assert repr(d) == f"Digest('sha256:{H64}')"

    def test_from_checksum(self) -> None:
        raw = bytes(range(32))
        d = Digest.from_checksum("sha256", raw)
        assert d.checksum == raw
        assert d == "sha256:" + raw.hex()
        with pytest.raises(DigestError, match="unknown algorithm"):
            Digest.from_checksum("sha1", raw)
        with pytest.raises(DigestError, match="bad checksum length"):
            Digest.from_checksum("sha512", raw)

    def test_as_digest(self) -> None:
        d = Digest(D1)
        assert as_digest(d, "x") is d
        assert as_digest(D1.upper().replace("SHA", "sha"), "x") == D1
        assert as_digest(Layer(d), "layer") is d
        assert as_digest(Manifest(D2, []), "manifest") == D2  # type: ignore[arg-type]

        class HasHash:
            hash = D1

        assert as_digest(HasHash(), "thing") == D1
        with pytest.raises(DigestError, match=r"^layer: invalid digest format"):
            as_digest("nope", "layer")
        with pytest.raises(DigestError, match=r"^manifest: expected a digest string, got int"):
            as_digest(5, "manifest")
        with pytest.raises(DigestError, match=r"^m: expected a digest string, got NoneType"):
            as_digest(None, "m")

    @given(
        st.sampled_from([("sha256", 32), ("sha512", 64)]).flatmap(
            lambda a: st.tuples(st.just(a[0]), st.binary(min_size=a[1], max_size=a[1]))
        ),
        st.booleans(),
    )
    def test_random_round_trip(self, algo_raw: tuple[str, bytes], upper: bool) -> None:
        algo, raw = algo_raw
        hexed = raw.hex().upper() if upper else raw.hex()
        d = Digest(f"{algo}:{hexed}")
        assert d == f"{algo}:{raw.hex()}"
        assert d.algorithm == algo
        assert d.checksum == raw
        assert Digest(str(d)) == d
        assert Digest.from_checksum(algo, raw) == d


# --- Version, Range, ArchOp, Severity ----------------------------------------------------------


class TestVersion:
    def test_text_forms(self) -> None:
        assert Version().text == ""
        assert str(Version()) == ""
        v = Version("semver", (0, 1, 4, 2))
        assert v.v == (0, 1, 4, 2, 0, 0, 0, 0, 0, 0)
        assert v.text == "semver:0.1.4.2.0.0.0.0.0.0"
        assert str(Version("pep440", (0, -3, 2**31 - 1))) == (
            "pep440:0.-3.2147483647.0.0.0.0.0.0.0"
        )
        # an empty kind is the zero text whatever the components
        assert Version("", (1, 2)).text == ""

    @pytest.mark.parametrize(
        ("text", "want"),
        [
            ("", Version()),
            ("garbage-without-colon", Version()),
            ("semver:0.1.4.2.0.0.0.0.0.0", Version("semver", (0, 1, 4, 2))),
            ("semver:1.2", Version("semver", (1, 2))),
            ("rhctag:8.10.0.0.0.0.0.0.0.0", Version("rhctag", (8, 10))),
            ("k:+5.-7", Version("k", (5, -7))),
            ("k:2147483647.-2147483648", Version("k", (2**31 - 1, -(2**31)))),
            ("a:b:1", None),  # kind is before the first ':', the rest must be ints
        ],
    )
    def test_parse(self, text: str, want: Version | None) -> None:
        if want is None:
            with pytest.raises(InvalidInputError):
                Version.parse(text)
        else:
            assert Version.parse(text) == want

    @pytest.mark.parametrize(
        "text",
        [
            "semver:",
            "semver:1..2",
            "semver:1.x",
            "semver:1.2.3.4.5.6.7.8.9.10.11",  # claircore panics here
            "semver:2147483648",
            "semver:-2147483649",
            "semver:1_000",
            "semver: 1",
            "semver:\u0661",  # non-ASCII digit
        ],
    )
    def test_parse_errors(self, text: str) -> None:
        with pytest.raises(InvalidInputError, match="normalized version"):
            Version.parse(text)

    def test_constructor_checks(self) -> None:
        with pytest.raises(InvalidInputError):
            Version("k", tuple(range(11)))
        with pytest.raises(InvalidInputError):
            Version("k", (2**31,))
        with pytest.raises(InvalidInputError):
            Version("k", ("1",))  # type: ignore[arg-type]
        assert Version("k", [1, 2]).v == (1, 2, 0, 0, 0, 0, 0, 0, 0, 0)  # type: ignore[arg-type]

    def test_compare(self) -> None:
        a = Version("semver", (0, 1, 2))
        b = Version("semver", (0, 1, 10))
        assert a < b and b > a and a <= a and a.compare(b) == -1 and b.compare(a) == 1
        assert a.compare(Version("semver", (0, 1, 2))) == 0
        # kinds first, lexicographically
        assert Version("a", (9,)) < Version("b", (0,))
        assert Version("b", (0,)).compare(Version("a", (9,))) == 1
        assert Version() < Version("a")
        # negative components order numerically
        assert Version("k", (-1,)) < Version("k", (0,))
        assert sorted([b, a, Version()]) == [Version(), a, b]

    @given(
        st.text(max_size=5).filter(lambda s: ":" not in s and s != ""),
        st.lists(st.integers(-(2**31), 2**31 - 1), max_size=10),
    )
    def test_text_round_trip(self, kind: str, comps: list[int]) -> None:
        v = Version(kind, tuple(comps))
        assert Version.parse(v.text) == v

    def test_range_half_open(self) -> None:
        r = Range(Version("semver", (0, 0, 0, 1)), Version("semver", (0, 1, 4, 3)))
        assert r.contains(Version("semver", (0, 0, 0, 1)))
        assert r.contains(Version("semver", (0, 1, 4, 2)))
        assert not r.contains(Version("semver", (0, 1, 4, 3)))
        assert not r.contains(Version("semver", (0, 0, 0, 0)))
        # kinds compare too: a pep440 version is above every semver one
        assert not r.contains(Version("pep440", (0, 0, 0, 2)))
        assert not Range().contains(Version())  # empty range


class TestArchOpSeverity:
    def test_archop_text(self) -> None:
        assert [m.value for m in ArchOp] == ["invalid", "equals", "not equals", "pattern match"]
        assert ArchOp.from_text("equals") is ArchOp.EQUALS
        assert ArchOp.from_text("not equals") is ArchOp.NOT_EQUALS
        assert ArchOp.from_text("pattern match") is ArchOp.PATTERN_MATCH
        for other in ("", "equal", "EQUALS", "xyz"):
            assert ArchOp.from_text(other) is ArchOp.INVALID

    @pytest.mark.parametrize(
        ("op", "rec", "vuln", "want"),
        [
            (ArchOp.INVALID, "x86_64", "", True),  # empty vuln arch always matches
            (ArchOp.EQUALS, "", "x86_64", False),  # empty record arch never does
            (ArchOp.EQUALS, "x86_64", "x86_64", True),
            (ArchOp.EQUALS, "x86_64", "noarch", False),
            (ArchOp.NOT_EQUALS, "x86_64", "noarch", True),
            (ArchOp.NOT_EQUALS, "noarch", "noarch", False),
            (ArchOp.PATTERN_MATCH, "x86_64", "x86_.*|aarch64", True),
            (ArchOp.PATTERN_MATCH, "ppc64le", "^x86", False),
            (ArchOp.PATTERN_MATCH, "x86_64", "(", False),  # bad regexp
            (ArchOp.INVALID, "x86_64", "x86_64", False),
        ],
    )
    def test_archop_cmp(self, op: ArchOp, rec: str, vuln: str, want: bool) -> None:
        assert op.cmp(rec, vuln) is want

    def test_severity(self) -> None:
        names = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]
        assert [s.text for s in Severity] == names
        assert sorted(Severity, reverse=True)[0] is Severity.CRITICAL
        assert Severity.LOW < Severity.MEDIUM < Severity.HIGH
        for n in names:
            assert Severity.from_text(n).text == n
        assert Severity.from_text("") is Severity.UNKNOWN
        for bad in ("low", "Neg", "Important"):
            with pytest.raises(InvalidInputError, match="unknown severity"):
                Severity.from_text(bad)


# --- PackageKind, Detector, scanners ------------------------------------------------------------


class TestPackageKind:
    def test_values(self) -> None:
        assert PackageKind.UNKNOWN == ""  # type: ignore[comparison-overlap]
        assert PackageKind.BINARY == "binary"  # type: ignore[comparison-overlap]
        assert str(PackageKind.SOURCE) == "source"
        assert [k.value for k in PackageKind] == ["", "source", "binary", "layer", "ancestry"]

    @pytest.mark.parametrize(
        ("text", "want"),
        [
            ("source", PackageKind.SOURCE),
            ("binary", PackageKind.BINARY),
            ("layer", PackageKind.LAYER),
            ("ancestry", PackageKind.ANCESTRY),
            ("unknown", PackageKind.UNKNOWN),
            ("", PackageKind.UNKNOWN),
            (None, PackageKind.UNKNOWN),
            # claircore's substring search would take "bin" as binary and panic on "own"
            ("bin", PackageKind.UNKNOWN),
            ("own", PackageKind.UNKNOWN),
            ("BINARY", PackageKind.UNKNOWN),
            ("xyz", PackageKind.UNKNOWN),
        ],
    )
    def test_from_text(self, text: str | None, want: PackageKind) -> None:
        assert PackageKind.from_text(text) is want

    def test_from_text_wrong_type(self) -> None:
        with pytest.raises(InvalidInputError):
            PackageKind.from_text(3)

    def test_package_coerces_kind(self) -> None:
        p = Package(name="x", kind="binary")  # type: ignore[arg-type]
        assert p.kind is PackageKind.BINARY
        assert Package(kind="weird").kind is PackageKind.UNKNOWN  # type: ignore[arg-type]


class TestDetector:
    def test_urn(self) -> None:
        d = Detector("dpkg", "7", "package")
        assert d.urn == "urn:claircore:detector:dpkg:7:package"
        assert Detector.from_urn(d.urn) == d
        assert Detector.from_urn("urn:claircore:detector:::") == Detector("", "", "")

    @pytest.mark.parametrize(
        "urn",
        [
            "",
            "dpkg:7:package",
            "urn:claircore:detector:dpkg:7",
            "urn:claircore:detector:dpkg:7:package:extra",
            "urn:claircore:detectors:dpkg:7:package",
        ],
    )
    def test_bad_urn(self, urn: str) -> None:
        with pytest.raises(InvalidInputError, match="invalid detector uri"):
            Detector.from_urn(urn)

    def test_colon_in_part_cannot_be_written(self) -> None:
        with pytest.raises(InvalidInputError, match="undecodable"):
            _ = Detector("go:mod", "1", "package").urn

    def test_frozen_and_hashable(self) -> None:
        s = VersionedScanner("dpkg", "7", "package")
        assert {s: 1}[VersionedScanner("dpkg", "7", "package")] == 1
        with pytest.raises(AttributeError):
            s.name = "x"  # type: ignore[misc]
        assert File("a/.wh.b", "whiteout") == File("a/.wh.b", "whiteout")


# --- entities ----------------------------------------------------------------------------------


class TestEntities:
    def test_package_defaults(self) -> None:
        p = Package()
        assert (p.id, p.name, p.version, p.kind, p.source) == ("", "", "", "", None)
        assert p.normalized_version == Version()
        assert p.cpe == "" and p.detector is None

    def test_cpe_is_canonicalised(self) -> None:
        want = "cpe:2.3:o:redhat:enterprise_linux:8:*:baseos:*:*:*:*:*"
        uri = "cpe:/o:redhat:enterprise_linux:8::baseos"
        assert Package(cpe=uri).cpe == want
        assert Distribution(cpe=uri).cpe == want
        assert Repository(cpe=uri).cpe == want
        assert Distribution(cpe=uri) == Distribution(cpe=want)
        with pytest.raises(InvalidInputError):
            Repository(cpe="not a cpe")

    def test_digests_are_coerced(self) -> None:
        e = Environment(introduced_in=D1.upper().replace("SHA", "sha"))  # type: ignore[arg-type]
        assert type(e.introduced_in) is Digest and e.introduced_in == D1
        assert Environment().introduced_in is None
        with pytest.raises(DigestError, match=r"^introduced_in"):
            Environment(introduced_in="")  # type: ignore[arg-type]
        r = IndexReport(hash=D1)  # type: ignore[arg-type]
        assert type(r.hash) is Digest
        with pytest.raises(DigestError, match=r"^manifest_hash"):
            IndexReport(hash="sha256:1")  # type: ignore[arg-type]
        with pytest.raises(DigestError, match=r"^layer\.hash"):
            Layer("x")  # type: ignore[arg-type]

    def test_manifest_layers(self) -> None:
        m = Manifest(Digest(D1), [D2, Layer(Digest(D1)), Digest(D2)])  # type: ignore[list-item]
        assert [type(x) for x in m.layers] == [Layer, Layer, Layer]
        assert [x.hash for x in m.layers] == [D2, D1, D2]
        with pytest.raises(DigestError, match=r"manifest\.layers\[1\]"):
            Manifest(Digest(D1), [D2, "bad"])  # type: ignore[list-item]

    def test_report_defaults(self) -> None:
        r = IndexReport()
        assert r.hash is None and r.state == "" and r.success is False and r.err == ""
        assert r.packages == {} and r.distributions == {} and r.repositories == {}
        assert r.environments == {} and r.files is None
        assert r.packages is not IndexReport().packages  # no shared mutable default


# --- IndexRecords (spec §1.7) --------------------------------------------------------------------


def _env(dist: str = "", rids: list[str] | None = None) -> Environment:
    return Environment("db", Digest(D1), dist, rids)


class TestIndexRecords:
    def test_null_maps(self) -> None:
        p = Package(id="1", name="a")
        assert IndexReport(packages=None).index_records() == []
        assert IndexReport(packages={"1": p}, environments=None).index_records() == []
        # null dist/repo maps: members become None
        r = IndexReport(
            packages={"1": p},
            environments={"1": [_env("9", ["3"])]},
            distributions=None,
            repositories=None,
        )
        assert r.index_records() == [IndexRecord(p, None, None)]

    def test_missing_distribution_and_repository_ids(self) -> None:
        p1, p2, p3 = Package(id="1", name="a"), Package(id="2", name="b"), Package(id="3")
        d = Distribution(id="11", did="debian")
        r1, r2 = Repository(id="21", name="r1"), Repository(id="22", name="r2")
        report = IndexReport(
            packages={"1": p1, "2": p2, "3": p3},
            distributions={"11": d},
            repositories={"21": r1, "22": r2},
            environments={
                "1": [_env("11", None), _env("", [])],  # null and [] both: one record each
                "2": [_env("99", ["21", "22", "404"])],  # one per repo id; unknown -> None
                # "3" has no environments: no records
            },
        )
        assert report.index_records() == [
            IndexRecord(p1, d, None),
            IndexRecord(p1, None, None),
            IndexRecord(p2, None, r1),
            IndexRecord(p2, None, r2),
            IndexRecord(p2, None, None),
        ]

    def test_looks_up_by_package_id_not_map_key(self) -> None:
        p = Package(id="7", name="a")
        report = IndexReport(
            packages={"1": p},
            environments={"1": [_env()], "7": [_env(), _env()]},
        )
        assert report.index_records() == [IndexRecord(p), IndexRecord(p)]

    def test_packages_in_dict_order(self) -> None:
        ps = {str(i): Package(id=str(i), name=f"p{i}") for i in (5, 1, 3)}
        report = IndexReport(packages=ps, environments={k: [_env()] for k in ps})
        assert [x.package.id for x in report.index_records() if x.package] == ["5", "1", "3"]
