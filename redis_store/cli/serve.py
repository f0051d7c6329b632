"""``serve``: Clair's indexer HTTP API answered from the tier (:mod:`redis_store.serve`).

The options are the settings table's (:data:`redis_store.serve.config.SETTINGS`), each also
an environment variable. The command checks the settings and Redis (a misconfiguration is
one line and exit 2; a Redis that is merely down is reported and waited for: requests get
503 until it answers), starts the introspection listener in this process, then runs
uvicorn with ``--workers`` worker processes (uvloop and httptools). SIGTERM or Ctrl-C stops
accepting connections, lets requests in flight finish (``--drain`` seconds at most) and
exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from redis_store.cli import console
from redis_store.cli.connection import connect
from redis_store.cli.errors import CommandError, Misconfigured, UsageError
from redis_store.cli.options import Subparsers, add_output_options
from redis_store.serve.config import (
    CONFIG_ENV,
    RUNDIR_ENV,
    SETTINGS,
    ConfigError,
    ServeConfig,
    resolve,
    split_address,
)
from redis_store.serve.listener import Introspection

#: What the server imports, with the extra that brings each.
NEEDED = ("starlette", "uvicorn", "uvloop", "httptools", "jwt", "aiohttp", "prometheus_client")
APP = "redis_store.serve.app:create_app"


def _missing() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def _check_redis(config: ServeConfig) -> None:
    """Exit 2 on a misconfigured Redis; a Redis out of reach is only reported."""
    try:
        store = connect(config.url, config.namespace)
    except Misconfigured:
        raise
    except CommandError as e:
        console.warn("serve", f"{e}; serving anyway (503 until Redis answers)")
        return
    store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve Clair's indexer API until SIGTERM or Ctrl-C."""
    try:
        config = resolve({s.name: getattr(args, s.name) for s in SETTINGS})
    except ConfigError as e:
        raise UsageError(str(e)) from None
    missing = _missing()
    if missing:
        raise CommandError(
            f"the server needs {', '.join(missing)}: pip install 'redis-store[serve]'"
        )
    _check_redis(config)
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    rundir = tempfile.mkdtemp(prefix="redis-store-serve-")
    os.environ[CONFIG_ENV] = config.to_env()
    os.environ[RUNDIR_ENV] = rundir
    introspection = None
    try:
        if config.introspection:
            host, port = split_address(config.introspection)
            try:
                introspection = Introspection(host, port, rundir)
            except OSError as e:
                raise CommandError(f"--introspection {config.introspection}: {e}") from None
            introspection.start()
        host, port = split_address(config.listen)
        level = logging.WARNING if args.quiet else logging.INFO
        server_config = uvicorn.Config(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=config.workers,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level=level,
            timeout_graceful_shutdown=int(max(1, round(config.drain))),
            server_header=False,
            proxy_headers=False,
        )
        print(
            f"redis-store serve: Clair's indexer API on http://{config.listen}"
            f" ({config.workers} worker{'s' if config.workers > 1 else ''}), origin"
            f" {', '.join(config.summary()['origins'])}"
            + (f", introspection on http://{config.introspection}" if introspection else ""),
            file=sys.stderr,
            flush=True,
        )
        server = uvicorn.Server(server_config)
        try:
            if config.workers == 1:
                server.run()
            else:
                sock = server_config.bind_socket()
                Multiprocess(server_config, sockets=[sock]).run()
        except KeyboardInterrupt:  # the stop signal, raised again once the drain is done
            pass
        except SystemExit as e:  # uvicorn gives up (the address is in use)
            raise CommandError(f"--listen {config.listen}: cannot serve (see above)") from e
        if config.workers == 1 and not server.started:
            raise CommandError(f"--listen {config.listen}: cannot serve (see above)")
    finally:
        if introspection is not None:
            introspection.stop()
        shutil.rmtree(rundir, ignore_errors=True)
    return 0


def add_serve_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="answer Clair's indexer HTTP API from the tier (pip install 'redis-store[serve]')",
        description="Serve Clair's indexer API (the routes Clair's matcher and notifier, Quay"
        " and clairctl call) from the tier in Redis, reading through to the origin on a miss"
        " and forwarding what only the origin can answer. Each option is also an environment"
        " variable (shown in brackets); an option given wins.",
    )
    for s in SETTINGS:
        p.add_argument(
            s.option,
            dest=s.name,
            type=_argument_type(s.parse, s.option),
            action="extend" if s.repeat else "store",
            default=None,
            metavar=s.metavar,
            help=f"{s.help} [{s.env}]",
        )
    add_output_options(p)
    p.set_defaults(func=cmd_serve, in_process=False)


def _argument_type(parse: Callable[[str], Any], option: str) -> Callable[[str], Any]:
    """The setting's parser as an argparse type (a bad value: exit 2 naming it)."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    convert.__name__ = option.lstrip("-")
    return convert


__all__ = ["add_serve_parser", "cmd_serve"]
