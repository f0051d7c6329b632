"""The server's settings: one table, each a command-line option and an environment variable.

:data:`SETTINGS` is the single source: the ``serve`` command builds its options from it, the
documentation's table is printed from it (``python -m redis_store.serve.config``), and
:func:`from_env` reads it back in each worker process (the command hands the resolved
settings to its workers as one JSON environment variable). An option given on the command
line wins over its environment variable, which wins over the default. Nothing here imports
the server's dependencies, so the command line loads without them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

#: Where the command hands the resolved settings to its worker processes.
CONFIG_ENV: Final = "REDIS_STORE_SERVE_CONFIG"
#: Where workers leave their metrics and status for the introspection listener.
RUNDIR_ENV: Final = "REDIS_STORE_SERVE_RUNDIR"
#: The issuer Clair's own services sign with, always accepted (as Clair does).
INTRASERVICE_ISSUER: Final = "clair-intraservice"


class ConfigError(ValueError):
    """A setting with a value the server cannot use; the message names the setting."""


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:ib|b)?|b?)", text.strip().lower())
    if m is None:
        raise ValueError(f"not a size: {text!r} (e.g. 64MiB, 512KiB, 1G)")
    return int(float(m[1]) * 1024 ** (1 + "kmgt".index(m[2]) if m[2] else 0))


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be positive, got {text!r}")
    return value


def _seconds_or_zero(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must be zero or positive, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text!r}")
    return value


def _address(text: str) -> str:
    """``HOST:PORT``, ``:PORT`` (every interface, as Clair writes it) or ``[v6]:PORT``."""
    host, port = split_address(text)
    return f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"


def _optional_address(text: str) -> str:
    return "" if text.strip().lower() in ("", "off", "none") else _address(text)


def split_address(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"\s*(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})\s*", text)
    if m is None or not 0 < int(m[3]) < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return (m[1] or m[2] or "0.0.0.0"), int(m[3])


def _psk(text: str) -> str:
    """A base64 key, as Clair's ``auth.psk.key``; kept as given, checked here."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not standard base64 (as Clair's auth.psk.key)") from None
    if not key:
        raise ValueError("the key is empty")
    return text.strip()


def _origins(text: str) -> list[str]:
    return [u.strip() for u in text.split(",") if u.strip()]


def _issuers(text: str) -> list[str]:
    return [i.strip() for i in text.split(",") if i.strip()]


def _access_log(text: str) -> str:
    value = text.strip().lower()
    if value not in ("json", "text", "off"):
        raise ValueError(f"expected json, text or off, got {text!r}")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: its option, environment variable, default, parser and meaning."""

    name: str
    option: str
    env: str
    default: Any
    parse: Callable[[str], Any]
    metavar: str
    help: str
    #: Given several times on the command line (a list); comma-separated in the variable.
    repeat: bool = False


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        "origins",
        "--origin",
        "REDIS_STORE_ORIGIN",
        [],
        _origins,
        "URL",
        "Clair's indexer API (http:// or https://: forwarding, the state, POST, DELETE)"
        " and/or its database (clair+postgresql://: misses read from it); once per kind",
        repeat=True,
    ),
    Setting(
        "listen",
        "--listen",
        "REDIS_STORE_LISTEN",
        "127.0.0.1:6060",
        _address,
        "HOST:PORT",
        "where Clair's indexer API is served (':6060' for every interface, as Clair's"
        " http_listen_addr)",
    ),
    Setting(
        "workers",
        "--workers",
        "REDIS_STORE_WORKERS",
        1,
        _positive,
        "N",
        "worker processes, each with its own local cache kept fresh by Redis",
    ),
    Setting(
        "introspection",
        "--introspection",
        "REDIS_STORE_INTROSPECTION",
        "127.0.0.1:8089",
        _optional_address,
        "HOST:PORT",
        "/metrics, /healthz and /readyz, as Clair's introspection_addr ('off': none)",
    ),
    Setting(
        "url",
        "--url",
        "REDIS_URL",
        "redis://localhost:6379/0",
        str,
        "URL",
        "the Redis the tier lives in (redis://, rediss://, unix://, redis+sentinel://,"
        " redis+cluster://)",
    ),
    Setting(
        "namespace",
        "--namespace",
        "REDIS_STORE_NAMESPACE",
        "claircore",
        str,
        "NS",
        "key namespace in Redis",
    ),
    Setting(
        "psk",
        "--psk",
        "REDIS_STORE_PSK",
        "",
        _psk,
        "BASE64",
        "Clair's auth.psk.key: requests must carry a JWT signed with it (none: no"
        " authentication, as Clair without auth)",
    ),
    Setting(
        "issuers",
        "--issuer",
        "REDIS_STORE_PSK_ISSUERS",
        [],
        _issuers,
        "ISS",
        f"Clair's auth.psk.iss: issuers accepted besides {INTRASERVICE_ISSUER} (quay, clairctl)",
        repeat=True,
    ),
    Setting(
        "origin_psk",
        "--origin-psk",
        "REDIS_STORE_ORIGIN_PSK",
        "",
        _psk,
        "BASE64",
        f"the key requests to the origin are signed with (as {INTRASERVICE_ISSUER});"
        " default: --psk",
    ),
    Setting(
        "origin_ca_file",
        "--origin-ca-file",
        "REDIS_STORE_ORIGIN_CA_FILE",
        "",
        str,
        "PATH",
        "CA certificates to trust for an https:// origin",
    ),
    Setting(
        "origin_timeout",
        "--origin-timeout",
        "REDIS_STORE_ORIGIN_TIMEOUT",
        10.0,
        _seconds,
        "SECONDS",
        "the origin's answer to a read (a miss, the state, affected manifests, a delete):"
        " 504 after it",
    ),
    Setting(
        "index_timeout",
        "--index-timeout",
        "REDIS_STORE_INDEX_TIMEOUT",
        600.0,
        _seconds,
        "SECONDS",
        "the origin's answer to a POST of a manifest and to every forwarded path (Quay"
        " waits 600 s): 504 after it",
    ),
    Setting(
        "origin_connections",
        "--origin-connections",
        "REDIS_STORE_ORIGIN_CONNECTIONS",
        64,
        _positive,
        "N",
        "connections to the origin each worker keeps open at most (a pool)",
    ),
    Setting(
        "state_ttl",
        "--state-ttl",
        "REDIS_STORE_STATE_TTL",
        5.0,
        _seconds,
        "SECONDS",
        "how long the origin's index state is held before it is asked again",
    ),
    Setting(
        "not_found_ttl",
        "--not-found-ttl",
        "REDIS_STORE_NOT_FOUND_TTL",
        5.0,
        _seconds_or_zero,
        "SECONDS",
        "how long a manifest the origin has no report of is answered 404 without asking"
        " again (0: always ask); a POST through the tier forgets it",
    ),
    Setting(
        "max_body",
        "--max-body",
        "REDIS_STORE_MAX_BODY",
        64 << 20,
        _size,
        "SIZE",
        "largest request body accepted (413 above it)",
    ),
    Setting(
        "concurrency",
        "--concurrency",
        "REDIS_STORE_CONCURRENCY",
        0,
        int,
        "N",
        "requests Clair limits (POSTs, and any method on /index_report) handled at once per"
        " worker, 429 beyond (Clair's index_report_request_concurrency: 0 = CPUs x 4,"
        " negative = no limit)",
    ),
    Setting(
        "redis_timeout",
        "--redis-timeout",
        "REDIS_STORE_REDIS_TIMEOUT",
        5.0,
        _seconds,
        "SECONDS",
        "a Redis command's answer (503 after it)",
    ),
    Setting(
        "drain",
        "--drain",
        "REDIS_STORE_DRAIN",
        30.0,
        _seconds,
        "SECONDS",
        "on SIGTERM, how long requests in flight may take to finish",
    ),
    Setting(
        "access_log",
        "--access-log",
        "REDIS_STORE_ACCESS_LOG",
        "json",
        _access_log,
        "FORMAT",
        "one line per request on stderr: json, text or off",
    ),
    Setting(
        "gzip_cache",
        "--gzip-cache",
        "REDIS_STORE_GZIP_CACHE",
        64 << 20,
        _size,
        "SIZE",
        "per worker: gzip answers of held reports kept, so Go clients (which ask for gzip)"
        " cost no compression on a hit (0: compress every answer)",
    ),
    Setting(
        "cache_size",
        "--cache-size",
        "REDIS_STORE_CACHE_SIZE",
        256 << 20,
        _size,
        "SIZE",
        "per worker: the local cache of held reports (0: off)",
    ),
)

_BY_NAME: Final = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class ServeConfig:
    """Resolved settings (see :data:`SETTINGS` for each one's meaning)."""

    origins: list[str] = field(default_factory=list)
    listen: str = "127.0.0.1:6060"
    workers: int = 1
    introspection: str = "127.0.0.1:8089"
    url: str = "redis://localhost:6379/0"
    namespace: str = "claircore"
    psk: str = ""
    issuers: list[str] = field(default_factory=list)
    origin_psk: str = ""
    origin_ca_file: str = ""
    origin_timeout: float = 10.0
    index_timeout: float = 600.0
    origin_connections: int = 64
    state_ttl: float = 5.0
    not_found_ttl: float = 5.0
    max_body: int = 64 << 20
    concurrency: int = 0
    redis_timeout: float = 5.0
    drain: float = 30.0
    access_log: str = "json"
    gzip_cache: int = 64 << 20
    cache_size: int = 256 << 20

    @property
    def api_origin(self) -> str:
        """Clair's indexer API (``""``: none)."""
        return next((u for u in self.origins if u.startswith(("http://", "https://"))), "")

    @property
    def database_origin(self) -> str:
        """Clair's database (``""``: none)."""
        return next((u for u in self.origins if not u.startswith(("http://", "https://"))), "")

    @property
    def signing_key(self) -> str:
        """The base64 key requests to the origin are signed with (``""``: unsigned)."""
        return self.origin_psk or self.psk

    @property
    def limit(self) -> int | None:
        """Clair's concurrency limit per worker (None: unlimited)."""
        if self.concurrency < 0:
            return None
        return self.concurrency or 4 * (os.cpu_count() or 1)

    def check(self) -> ServeConfig:
        """Refuse what cannot work, naming the setting."""
        api = [u for u in self.origins if u.startswith(("http://", "https://"))]
        db = [u for u in self.origins if u not in api]
        if not self.origins:
            raise ConfigError("--origin (REDIS_STORE_ORIGIN): at least one origin is needed")
        if len(api) > 1 or len(db) > 1:
            raise ConfigError(
                "--origin: at most one Clair indexer API (http(s)://) and one database"
                " (clair+postgresql://)"
            )
        for u in db:
            if not u.startswith(("clair+postgresql://", "clair+postgres://", "postgresql://")):
                shown = u.split("://")[0] + "://…" if "://" in u else u
                raise ConfigError(f"--origin {shown!r}: neither http(s):// nor clair+postgresql://")
        if "{" in self.namespace or "}" in self.namespace or not self.namespace:
            raise ConfigError("--namespace: must be non-empty, without '{' or '}'")
        return self

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    def summary(self) -> dict[str, Any]:
        """The settings as logged at start (keys hidden, URLs without passwords)."""
        out = dataclasses.asdict(self)
        for secret in ("psk", "origin_psk"):
            out[secret] = "(set)" if out[secret] else ""
        out["url"] = _redact(self.url)
        out["origins"] = [_redact(u) for u in self.origins]
        return out


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    creds, _, tail = rest.partition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***' if ':' in creds else user}@{tail}"


def resolve(given: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ServeConfig:
    """Settings from the command line's values (``None``: not given), then the
    environment, then the defaults; a bad value is a :class:`ConfigError` naming it."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for s in SETTINGS:
        value = given.get(s.name)
        if value is None or (s.repeat and value == []):
            raw = environ.get(s.env)
            if raw is None or raw == "":
                continue
            try:
                value = s.parse(raw)
            except ValueError as e:
                raise ConfigError(f"${s.env}: {e}") from None
        values[s.name] = value
    return ServeConfig(**values).check()


def from_env(environ: Mapping[str, str] | None = None) -> ServeConfig:
    """The settings a worker was handed (:data:`CONFIG_ENV`)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(CONFIG_ENV)
    if not raw:
        raise ConfigError(f"${CONFIG_ENV} is not set: start the server with 'redis-store serve'")
    return ServeConfig(**json.loads(raw))


def parser_for(name: str) -> Callable[[str], Any]:
    """The value parser of setting ``name`` (for the command line's argument types)."""
    return _BY_NAME[name].parse


def table() -> str:
    """The settings as a Markdown table (the documentation's)."""
    rows = ["| option | environment variable | default | what |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = s.default
        if s.parse is _size and isinstance(default, int):
            default = f"{default >> 20} MiB"
        elif isinstance(default, list):
            default = ""
        shown = f"`{default}`" if default not in ("", None) else "(none)"
        if s.name == "origin_psk":
            shown = "`--psk`"
        rows.append(f"| `{s.option} {s.metavar}` | `{s.env}` | {shown} | {s.help} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - prints the documentation's table
    print(table())
