"""Clair's pre-shared-key JWTs: checking a client's, and signing the server's own.

Checking (:class:`PskVerifier`) is Clair's ``middleware/auth/httpauth_psk.go``: the token of
the first ``Authorization: Bearer`` header, HMAC-signed (HS256, HS384 or HS512) with the
base64-decoded key, ``nbf`` and ``iat`` at most 15 s ahead and ``exp`` at most 15 s behind
when present (``exp`` is not required), ``iss`` one of ``clair-intraservice`` and the
configured issuers; ``aud``, ``sub`` and ``jti`` are not looked at. Anything else (no
token, another algorithm, ``alg: none``, a wrong key) fails, and the caller answers 401
with an empty body.

Signing (:class:`Signer`) is Clair's ``internal/httputil/signer.go``, the way its matcher and
notifier sign requests to the indexer: HS256, ``iss: clair-intraservice``, ``iat`` now,
``nbf`` a minute ago, ``exp`` in a minute, a new token per request. The server signs every
request it sends to the origin this way rather than passing the client's token on: requests
it makes on its own (a miss, the state) have no client token, the origin then sees one
identity whatever the client, and a client's token is only ever checked here.
"""

from __future__ import annotations

import base64
import time
import warnings
from collections.abc import Iterable

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from redis_store.serve.config import INTRASERVICE_ISSUER

ALGORITHMS = ("HS256", "HS384", "HS512")
#: Clair's clock leeway when checking (15 s) and go-jose's default when signing (1 min).
LEEWAY = 15.0
SIGNED_FOR = 60
#: Clair takes keys of any length; a short one is reported once at start, not per request.
SHORT_KEY = 32
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)


def decode_key(text: str) -> bytes:
    """A key as Clair's configuration writes it (standard base64)."""
    return base64.b64decode(text, validate=True)


class PskVerifier:
    """Checks the bearer token of a request, as Clair does."""

    def __init__(self, key: str, issuers: Iterable[str] = ()) -> None:
        self.key = decode_key(key)
        self.issuers = frozenset([INTRASERVICE_ISSUER, *issuers])

    def check(self, authorization: list[str]) -> bool:
        """Whether the request's ``Authorization`` header values carry a valid token."""
        token = next((h[7:] for h in authorization if h.startswith("Bearer ")), None)
        if token is None:
            return False
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=list(ALGORITHMS),
                leeway=LEEWAY,
                options={
                    "require": [],
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return False
        return isinstance(claims, dict) and claims.get("iss") in self.issuers


class Signer:
    """Makes the ``Authorization`` header of a request to the origin."""

    def __init__(self, key: str, issuer: str = INTRASERVICE_ISSUER) -> None:
        self.key = decode_key(key)
        self.issuer = issuer

    def header(self) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "iat": now, "nbf": now - SIGNED_FOR, "exp": now + SIGNED_FOR}
        return "Bearer " + jwt.encode(claims, self.key, algorithm="HS256")


__all__ = ["ALGORITHMS", "LEEWAY", "PskVerifier", "Signer", "decode_key"]
