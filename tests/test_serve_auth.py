"""Authentication as Clair's: the tokens Clair's matcher and notifier, Quay and clairctl make
are accepted; forged ones get 401 with an empty body; and the server signs what it sends to
an origin that checks tokens.

The tokens are made the way each client makes them: Clair's services and clairctl with
go-jose (a JWS with only ``alg`` in its header, claims ``iss``, ``iat``, ``nbf`` a minute
back, ``exp`` a minute ahead), written out by hand here so that nothing of the server's own
code makes them; Quay with PyJWT (``{"iss": "quay", "exp": now + 5 min}``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from redis_store.serve.auth import PskVerifier
from tests.support.clair_indexer import ClairIndexer
from tests.support.serve import ServeProcess, start_tier
from tests.support.servers import RedisServer
from tests.test_tier import REPORTS

#: PyJWT warns about HMAC keys shorter than the hash; Clair takes any length, so do the tests.
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key is")

KEY = b"a pre-shared key of thirty-two bytes!!"
PSK = base64.b64encode(KEY).decode()
OTHER = base64.b64encode(b"another key altogether, also long").decode()
DIGEST = next(iter(REPORTS))
PATH = f"/indexer/api/v1/index_report/{DIGEST}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def go_jose(claims: dict[str, Any], key: bytes = KEY, alg: str = "HS256") -> str:
    """A compact JWS as go-jose's ``jwt.Signed(signer).Claims(c).CompactSerialize()``."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    head = b64(json.dumps({"alg": alg}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(sig)}"


def clair_service(iss: str = "clair-intraservice", alg: str = "HS256", key: bytes = KEY) -> str:
    """What Clair's matcher, notifier (and clairctl, with its issuer) send."""
    now = int(time.time())
    return go_jose({"iss": iss, "iat": now, "nbf": now - 60, "exp": now + 60}, key, alg)


def quay() -> str:
    """What Quay sends (util/secscan/v4/api.py)."""
    exp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    return jwt.encode({"iss": "quay", "exp": exp}, KEY, algorithm="HS256")


def switched_algorithm() -> str:
    """Signed with HS256, then the header rewritten to claim HS512."""
    token = clair_service()
    _, body, sig = token.split(".")
    return f"{b64(json.dumps({'alg': 'HS512'}).encode())}.{body}.{sig}"


def public_key_confusion() -> str:
    """An RS256-labelled token HMAC-signed with the key (the classic algorithm confusion)."""
    now = int(time.time())
    head = b64(json.dumps({"alg": "RS256"}).encode())
    body = b64(json.dumps({"iss": "quay", "iat": now}).encode())
    sig = hmac.new(KEY, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


ACCEPTED = {
    "matcher": lambda: clair_service(),
    "notifier": lambda: clair_service(),
    "clairctl": lambda: clair_service("clairctl"),
    "quay": quay,
    "HS384": lambda: clair_service(alg="HS384"),
    "HS512": lambda: clair_service(alg="HS512"),
    "no exp": lambda: go_jose({"iss": "quay"}),
    "expired 10 s ago (leeway)": lambda: go_jose({"iss": "quay", "exp": int(time.time()) - 10}),
    "an aud nobody checks": lambda: go_jose({"iss": "quay", "aud": "elsewhere"}),
}
FORGED = {
    "wrong key": lambda: clair_service(key=b"not the key, but long enough to be one"),
    "wrong issuer": lambda: clair_service("clair-notifier"),
    "no issuer": lambda: go_jose({"exp": int(time.time()) + 60}),
    "expired": lambda: go_jose({"iss": "quay", "exp": int(time.time()) - 60}),
    "not yet valid": lambda: go_jose({"iss": "quay", "nbf": int(time.time()) + 60}),
    "issued in the future": lambda: go_jose({"iss": "quay", "iat": int(time.time()) + 60}),
    "alg none": lambda: jwt.encode({"iss": "quay"}, None, algorithm="none"),
    "algorithm switched": switched_algorithm,
    "RS256 with the key": public_key_confusion,
    "garbage": lambda: "not.a.jwt",
    "empty": lambda: "",
}


@pytest.mark.parametrize("client", ACCEPTED)
def test_the_verifier_accepts_what_clients_send(client: str) -> None:
    verifier = PskVerifier(PSK, ["quay", "clairctl"])
    assert verifier.check([f"Bearer {ACCEPTED[client]()}"])


@pytest.mark.parametrize("forgery", FORGED)
def test_the_verifier_refuses_forgeries(forgery: str) -> None:
    verifier = PskVerifier(PSK, ["quay", "clairctl"])
    assert not verifier.check([f"Bearer {FORGED[forgery]()}"])


def test_the_bearer_scheme_is_needed() -> None:
    verifier = PskVerifier(PSK, ["quay"])
    assert not verifier.check([clair_service()])  # no scheme
    assert not verifier.check([f"bearer {clair_service()}"])  # Go's prefix check is exact
    assert not verifier.check([])
    assert verifier.check(["Basic x", f"Bearer {clair_service()}"])  # the first Bearer one


# -- on the wire --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(redis_server: RedisServer) -> Iterator[tuple[ServeProcess, ClairIndexer]]:
    """A server with a PSK, in front of an origin that checks the server's own tokens."""
    clair = ClairIndexer(REPORTS.values(), psk=PSK, issuers=["clair-intraservice"])
    serve = start_tier(
        clair.url,
        redis_server.url,
        "serve-auth",
        "--psk",
        PSK,
        "--issuer",
        "quay",
        "--issuer",
        "clairctl",
    )
    yield serve, clair
    assert serve.stop() == 0
    clair.stop()
    assert "Traceback" not in serve.log()


@pytest.mark.real_only
def test_clients_tokens_on_the_wire(guarded: tuple[ServeProcess, ClairIndexer]) -> None:
    serve, clair = guarded
    with requests.Session() as http:
        for name, make in ACCEPTED.items():
            r = http.get(
                serve.url + PATH, headers={"Authorization": f"Bearer {make()}"}, timeout=10
            )
            assert r.status_code == 200, name
        for name, make in FORGED.items():
            r = http.get(
                serve.url + PATH, headers={"Authorization": f"Bearer {make()}"}, timeout=10
            )
            assert (r.status_code, r.content) == (401, b""), name
        assert http.get(serve.url + PATH, timeout=10).status_code == 401
        assert http.get(serve.url + "/robots.txt", timeout=10).status_code == 200  # as Clair
        # a forged token reaches nothing: the origin never saw a request for it
        assert all(a.get("Authorization", "").startswith("Bearer ") for _, _, a in clair.requests)


@pytest.mark.real_only
def test_requests_to_the_origin_are_signed_as_clairs_services_sign(
    guarded: tuple[ServeProcess, ClairIndexer],
) -> None:
    serve, clair = guarded
    auth = {"Authorization": f"Bearer {quay()}"}
    state = requests.get(serve.url + "/indexer/api/v1/index_state", headers=auth, timeout=10)
    assert state.status_code == 200  # the origin accepted the server's token
    sent = [h["Authorization"][7:] for _, path, h in clair.requests if "Authorization" in h]
    assert sent
    head = json.loads(base64.urlsafe_b64decode(sent[-1].split(".")[0] + "=="))
    claims = jwt.decode(sent[-1], KEY, algorithms=["HS256"])
    assert head["alg"] == "HS256"
    assert claims["iss"] == "clair-intraservice"
    assert claims["nbf"] <= claims["iat"] <= claims["exp"]
    assert claims["exp"] - claims["iat"] == 60
    assert sent[-1] != auth["Authorization"][7:]  # never the client's own token
