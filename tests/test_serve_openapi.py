"""The server's answers checked against Clair's own OpenAPI document with schemathesis.

Clair's document and schemas are read in place from ``../shared/docs/clair-openapi/`` (never
copied into the project); without them these tests skip, saying so, except under
``CI=true``. Requests are generated from the document for the indexer's operations and sent
to a real server process in front of a Clair-like origin; every answer must be documented
(status, content type, headers) and match its schema, and none may be a 5xx.

The known difference between Clair's document and Clair's server: the document says
``POST /indexer/api/v1/internal/affected_manifest`` takes a bare array of
``vulnerability_summary`` objects, while the running Clair (and its notifier, the only
client) sends and decodes ``{"vulnerabilities": [Vulnerability, ...]}``. The server does
what the running Clair does, so that operation's requests are not generated from the
document.

Found here: the bodies Clair's indexer serves are claircore's JSON, stored and served as
they are (and the tier serves the same bytes), and that JSON differs from the document's
schemas in a few fields (:data:`CLAIRCORE_ENCODING`): a package's kind in lower case, an
empty CPE as ``""``, ``repository_ids`` as null, a package's ``detector``, and the
vulnerabilities an affected-manifests answer echoes as Go encodes claircore's
``Vulnerability``. Answers are checked against the document everywhere else, and equal to
what the origin answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from redis_store import IndexReport
from redis_store.demo import workload
from tests.conftest import IN_CI
from tests.support.clair_indexer import ClairIndexer
from tests.support.serve import ServeProcess, start_tier
from tests.support.servers import RedisServer
from tests.test_tier import REPORTS

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.openapi.checks import JsonSchemaError  # noqa: E402

pytestmark = [pytest.mark.real_only, pytest.mark.slow]

OPENAPI = Path(__file__).resolve().parents[1].parent / "shared" / "docs" / "clair-openapi"
AFFECTED = "/indexer/api/v1/internal/affected_manifest"
#: The document's operations this server answers itself (the rest are the origin's).
INDEXER = r"^/indexer/api/v1/"
KNOWN_DIFFERENCE = (
    "Clair's document declares the affected_manifest request as a bare array of"
    " vulnerability_summary; the running Clair takes {'vulnerabilities': [Vulnerability...]}"
)


def _need_document() -> Path:
    doc = OPENAPI / "openapi.json"
    if not doc.is_file():
        if IN_CI:
            pytest.fail(f"CI=true but Clair's OpenAPI document is not at {doc}")
        pytest.skip(f"Clair's OpenAPI document is not at {doc}")
    return doc


@pytest.fixture(scope="module")
def conformance_server(redis_server: RedisServer) -> Iterator[tuple[ServeProcess, ClairIndexer]]:
    _need_document()
    import fakeredis

    from redis_store import RedisStore

    store = RedisStore(fakeredis.FakeRedis(), namespace="origin")
    clair = ClairIndexer(REPORTS.values(), store=store)
    serve = start_tier(clair.url, redis_server.url, "serve-openapi")
    yield serve, clair
    assert serve.stop() == 0
    clair.stop()
    log = serve.log()
    assert "Traceback" not in log, log


#: Where claircore's own JSON (what Clair's indexer stores and serves, byte for byte, and
#: what the tier serves) differs from the schemas of Clair's document: a package's kind in
#: lower case, an empty CPE as "", an environment's ``repository_ids`` as null, a
#: package's ``detector`` (a source package's too), and the
#: vulnerabilities an affected-manifests answer echoes (Go's encoding of claircore's
#: Vulnerability: ``Self``, ``Aliases``, ``Invert``, no ``arch_op`` when empty).
CLAIRCORE_ENCODING = (
    "Schema at /package.schema.json/properties/kind",
    "Schema at /cpe.schema.json",
    "Schema at /environment.schema.json/properties/repository_ids",
    "('detector' was unexpected)",
)


def conforms(operation: Any, response: requests.Response) -> None:
    """The answer matches the document but where claircore's encoding differs from it."""
    try:
        operation.validate_response(response)
    except FailureGroup as group:
        outside = [
            e
            for e in group.exceptions
            if not (isinstance(e, JsonSchemaError) and _claircore_encoding(e))
        ]
        assert not outside, [str(e)[:400] for e in outside]


def _claircore_encoding(e: Any) -> bool:
    path = list(e.instance_path)
    if len(path) >= 2 and path[0] == "vulnerabilities":
        return True
    return any(where in str(e) for where in CLAIRCORE_ENCODING)


#: What every answer must satisfy. Not schemathesis' "positive data accepted": Clair itself
#: refuses some requests its document allows (a manifest without layers, "bogus manifest";
#: a blake3 digest, documented as not implemented), and the server relays Clair's refusal.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]

#: The indexer's operations in Clair's document whose requests are generated from it.
OPERATIONS = [
    ("POST", "/indexer/api/v1/index_report"),
    ("DELETE", "/indexer/api/v1/index_report"),
    ("GET", "/indexer/api/v1/index_report/{digest}"),
    ("DELETE", "/indexer/api/v1/index_report/{digest}"),
    ("GET", "/indexer/api/v1/index_state"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_answers_conform_to_clairs_document(
    method: str, path: str, conformance_server: tuple[ServeProcess, ClairIndexer]
) -> None:
    serve, _ = conformance_server
    operation = schemathesis.openapi.from_path(str(_need_document()))[path][method]
    seen: dict[int, int] = {}

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(base_url=serve.url, timeout=10)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        case.validate_response(response, checks=CHECKS)

    check()
    assert seen, "no request was made"


def test_affected_manifest_answers_conform_despite_the_request_difference(
    conformance_server: tuple[ServeProcess, ClairIndexer],
) -> None:
    doc = schemathesis.openapi.from_path(str(_need_document()))
    operation = doc[AFFECTED]["POST"]
    reports = [IndexReport.from_json(raw) for raw in REPORTS.values()]
    vulns = [v.to_json() for v in workload.sample_vulnerabilities(reports, 30, seed=5)]
    body = b'{"vulnerabilities":[' + b",".join(vulns) + b"]}"
    serve, clair = conformance_server
    with requests.Session() as http:
        expected = http.post(clair.url + AFFECTED + "/", data=body, timeout=30).json()
        for path in (AFFECTED, AFFECTED + "/"):
            r = http.post(serve.url + path, data=body, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json() == expected
            conforms(operation, r)
        # the document's own request shape is refused as the running Clair refuses it
        bare = http.post(serve.url + AFFECTED, json=[{"name": "x"}], timeout=10)
        assert bare.status_code == 400, KNOWN_DIFFERENCE


def test_held_reports_and_the_state_conform(
    conformance_server: tuple[ServeProcess, ClairIndexer],
) -> None:
    """Generated digests are mostly unknown (404): the reports held, and the state, too."""
    serve, _ = conformance_server
    doc = schemathesis.openapi.from_path(str(_need_document()))
    get_report = doc["/indexer/api/v1/index_report/{digest}"]["GET"]
    with requests.Session() as http:
        for d in REPORTS:
            for _ in range(2):  # read through, then held
                r = http.get(serve.url + f"/indexer/api/v1/index_report/{d}", timeout=30)
                assert r.status_code == 200
                conforms(get_report, r)
        state = http.get(serve.url + "/indexer/api/v1/index_state", timeout=10)
        doc["/indexer/api/v1/index_state"]["GET"].validate_response(state)
