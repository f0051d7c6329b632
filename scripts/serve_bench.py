#!/usr/bin/env python3
"""``redis-store serve`` measured on loopback with wrk, beside what it replaces.

    python scripts/serve_bench.py                      # the full run (about 15 minutes)
    python scripts/serve_bench.py --manifests 50 --duration 2 --connections 16 --workers 1 \\
        --affected-requests 3 --no-conformance          # a smoke run (about a minute)

One run starts everything on this machine: a PostgreSQL server holding a Clair indexer
database (claircore's four shared reports and ``--manifests`` workload reports), Redis, and

* ``postgres``: Clair's indexer answering from PostgreSQL, one query per request, the JSON
  decoded and encoded again (``benchmarks/serve_apps.py``), the tier's origin;
* ``tier``: ``redis-store serve`` in front of it, filled from the database (every report but
  a few left for misses) and marked a complete mirror;
* ``floor``: the tier's own application answering a constant body of the median report's
  size (the framework's floor);
* ``nginx``: Debian's nginx with ``proxy_cache`` in front of the same origin;

then drives each with ``wrk`` (Debian's package) at 1, 16 and 64 connections, with 1 and 2
workers, over the workload's size mix and over the largest shared report, and measures a
miss, a POST of a held manifest, ``index_state``, and ``affected_manifest`` with 1,000
vulnerabilities against claircore's PostgreSQL path (the benchmark baseline,
``benchmarks/postgres.py``). It ends with the conformance and token tests. Everything runs
on the same CPUs as wrk: on a 2-CPU machine wrk takes a share of them, so read the 2-worker
figures as what is left. The tables are printed ready to paste into BENCHMARKS.md, with the
exact command, and written to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import requests

from benchmarks.clair_database import fill_clair_database
from benchmarks.postgres import PostgresStore
from redis_store import IndexReport, RedisStore
from redis_store.demo import workload
from redis_store.fill import fill_from_origin
from redis_store.ops import mirror
from redis_store.serve.config import CONFIG_ENV, resolve
from redis_store.tier import ClairDatabaseOrigin
from tests.support import servers
from tests.support.serve import ServeProcess, start_serve

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata" / "claircore"
STATE = "b8e1a6c3d0f24e5ab1c2d3e4f5a6b7c8"
BASE = "/indexer/api/v1"
WRK_LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


@dataclass
class Row:
    """One wrk run."""

    target: str
    workers: int
    connections: int
    paths: str
    encoding: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        return float("nan")
    return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m[2]]


def wrk(
    url: str, paths: Path, connections: int, seconds: float, headers: dict[str, str]
) -> tuple[float, float, float, int]:
    """requests/s, p50 and p99 in ms, and non-2xx/3xx answers plus socket errors."""
    script = paths.with_suffix(".lua")
    script.write_text(WRK_LUA)
    args = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
    ]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    args += ["-s", str(script), url]
    out = subprocess.run(
        args,
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_PATHS": str(paths)},
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad[1]) if bad else 0) + (sum(int(x) for x in errs.groups()) if errs else 0)
    if errors or p50 != p50:
        print(out, file=sys.stderr)
    return rps, p50, p99, errors


def uvicorn(factory: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        args,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(f"http://127.0.0.1:{port}/indexer/api/v1/index_state", process)
    return process


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    servers.stop_process(process, sig=signal.SIGTERM, timeout=20)


NGINX = """
{user}
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  proxy_cache_path {dir}/cache levels=1:2 keys_zone=reports:64m max_size=2g inactive=1h;
  upstream clair {{ server 127.0.0.1:{origin}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://clair;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache reports;
      proxy_cache_key $request_uri;
      proxy_cache_valid 200 10m;
      proxy_cache_lock on;
    }}
  }}
}}
"""


@contextmanager
def nginx(origin_port: int, workers: int) -> Iterator[str]:
    """Debian's nginx with proxy_cache in front of the origin."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    workdir = Path(tempfile.mkdtemp(prefix="serve-bench-nginx-"))
    port = servers.free_port()
    conf = workdir / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # its workers write the cache here
    conf.write_text(
        NGINX.format(user=user, workers=workers, dir=workdir, origin=origin_port, port=port)
    )
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(workdir)])
    try:
        _wait(f"http://127.0.0.1:{port}/indexer/api/v1/index_state", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        servers.stop_process(process, workdir, sig=signal.SIGQUIT, timeout=10)


def timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifests", type=int, default=1000, help="workload reports (default 1000)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("--connections", default="1,16,64", help="wrk connections (default 1,16,64)")
    p.add_argument("--workers", default="1,2", help="worker processes (default 1,2)")
    p.add_argument("--misses", type=int, default=20, help="reports left out for misses")
    p.add_argument("--affected-requests", type=int, default=10, help="1,000-vulnerability POSTs")
    p.add_argument("--no-nginx", action="store_true")
    p.add_argument("--no-conformance", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "serve.json")
    args = p.parse_args()
    command = "python scripts/serve_bench.py " + " ".join(sys.argv[1:])
    conns = [int(c) for c in args.connections.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    for tool in ("wrk",) + (() if args.no_nginx else ("nginx",)):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is not installed: apt-get install -y {tool}")
    servers.require_binaries(postgres=True, redis=True)
    rows: list[Row] = []
    extra: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    with ExitStack() as stack:
        pg = servers.start_postgres()
        stack.callback(pg.stop)
        redis = servers.start_redis()
        stack.callback(redis.stop)
        shared = sorted(SHARED.glob("*.index.json")) if SHARED.is_dir() else []
        reports = [IndexReport.from_json(x.read_bytes()) for x in shared]
        reports += list(workload.generate(args.manifests, seed=1))
        print(f"filling PostgreSQL with {len(reports)} reports ...", file=sys.stderr)
        digests = [str(d) for d in fill_clair_database(pg.dsn, reports, fresh=True)]
        sizes = {str(r.hash): len(r.to_json()) for r in reports}
        largest = max(digests, key=lambda d: sizes[d])
        misses, held = digests[-args.misses :], digests[: -args.misses]
        mix = work / "mix.txt"
        mix.write_text("".join(f"{BASE}/index_report/{d}\n" for d in held))
        big = work / "largest.txt"
        big.write_text(f"{BASE}/index_report/{largest}\n")
        median_size = int(statistics.median(sizes[d] for d in held))
        extra["reports"] = {
            "held": len(held),
            "median_bytes": median_size,
            "largest_bytes": sizes[largest],
            "largest": largest,
        }
        dburl = f"clair+postgresql://{pg.user}@127.0.0.1:{pg.port}/{pg.database}"
        pg_env = {
            "BENCH_PG_DSN": f"postgresql://{pg.user}@127.0.0.1:{pg.port}/{pg.database}",
            "BENCH_STATE": STATE,
        }
        origin_port = servers.free_port()
        origin = uvicorn("benchmarks.serve_apps:postgres_app", origin_port, 1, pg_env)
        stack.callback(stop, origin)
        origin_url = f"http://127.0.0.1:{origin_port}"

        # fill the tier from the database, marked a complete mirror
        store = RedisStore.from_url(redis.url, namespace="claircore", local_cache=False)
        start = mirror.begin_fill(store)
        filled = fill_from_origin(
            functools.partial(RedisStore.from_url, redis.url, local_cache=False),
            functools.partial(ClairDatabaseOrigin, dburl, timeout=10),
            held,
            jobs=2,
        )
        extra["fill"] = filled.summary()
        mirror.mark_complete(store, start, origin=dburl)

        def run(
            target: str, url: str, workers: int, paths: Path, label: str, encoding: str = "identity"
        ) -> None:
            headers = {"Accept-Encoding": encoding}
            for c in conns:
                wrk(url, paths, c, min(2.0, args.duration), headers)  # warm every worker
                rps, p50, p99, errors = wrk(url, paths, c, args.duration, headers)
                rows.append(Row(target, workers, c, label, encoding, rps, p50, p99, errors))
                print(
                    f"{target:8} w{workers} c{c:<3} {label:8} {encoding:8} {rps:9.0f}/s"
                    f" p50 {p50:7.2f} ms p99 {p99:7.2f} ms errors {errors}",
                    file=sys.stderr,
                )

        tier_options = [
            "--origin",
            origin_url,
            "--origin",
            dburl,
            "--url",
            redis.url,
            "--not-found-ttl",
            "0",
        ]
        for w in worker_counts:
            tier = start_serve([*tier_options, "--workers", str(w)])
            try:
                run("tier", tier.url, w, mix, "mix")
                run("tier", tier.url, w, big, "largest")
                if 16 in conns:
                    saved, conns[:] = list(conns), [16]
                    run("tier", tier.url, w, mix, "mix", "gzip")
                    state = work / "state.txt"
                    state.write_text(f"{BASE}/index_state\n")
                    run("tier", tier.url, w, state, "state")
                    conns[:] = saved
                if w == worker_counts[0]:
                    extra.update(
                        one_offs(
                            tier,
                            origin_url,
                            held,
                            misses,
                            reports,
                            pg.dsn,
                            args.affected_requests,
                            work,
                        )
                    )
            finally:
                _stop_serve(tier)
            config = resolve({"origins": [origin_url], "url": redis.url, "workers": w}, {})
            fport = servers.free_port()
            floor = uvicorn(
                "benchmarks.serve_apps:floor_app",
                fport,
                w,
                {CONFIG_ENV: config.to_env(), "BENCH_FLOOR_BYTES": str(median_size)},
            )
            try:
                fpaths = work / "floor.txt"
                fpaths.write_text("/floor\n")
                run("floor", f"http://127.0.0.1:{fport}", w, fpaths, "constant")
            finally:
                stop(floor)
            pport = servers.free_port()
            baseline = uvicorn("benchmarks.serve_apps:postgres_app", pport, w, pg_env)
            try:
                run("postgres", f"http://127.0.0.1:{pport}", w, mix, "mix")
                run("postgres", f"http://127.0.0.1:{pport}", w, big, "largest")
            finally:
                stop(baseline)
            if not args.no_nginx:
                with nginx(origin_port, w) as nurl:
                    run("nginx", nurl, w, mix, "mix")
                    run("nginx", nurl, w, big, "largest")
        store.close()
    if not args.no_conformance:
        extra["conformance"] = conformance()
    shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"command": command, "rows": [asdict(r) for r in rows], **extra}, indent=1)
    )
    print(report(rows, extra, command))
    return 0


def _stop_serve(serve: ServeProcess) -> None:
    serve.stop()
    Path(serve.log_path).unlink(missing_ok=True)


def one_offs(
    tier: ServeProcess,
    origin_url: str,
    held: list[str],
    misses: list[str],
    reports: list[IndexReport],
    dsn: str,
    repeat: int,
    work: Path,
) -> dict[str, Any]:
    """A miss, a POST of a held manifest, the state, and affected manifests."""
    out: dict[str, Any] = {}
    with requests.Session() as http:
        miss_ms = [
            t
            for d in misses
            for t in timed(lambda d=d: http.get(f"{tier.url}{BASE}/index_report/{d}"), 1)
        ]
        out["miss"] = summary(miss_ms)
        body = orjson.dumps({"hash": held[0], "layers": [{"hash": held[0], "uri": "x"}]})
        post = timed(lambda: http.post(f"{tier.url}{BASE}/index_report", data=body), 50)
        out["post_held"] = summary(post)
        direct = timed(lambda: http.post(f"{origin_url}{BASE}/index_report", data=body), 50)
        out["post_held_at_origin"] = summary(direct)
        state = timed(lambda: http.get(f"{tier.url}{BASE}/index_state"), 200)
        out["index_state"] = summary(state)
        vulns = workload.sample_vulnerabilities(reports, 1000, seed=2)
        payload = b'{"vulnerabilities":[' + b",".join(v.to_json() for v in vulns) + b"]}"
        affected = timed(
            lambda: http.post(f"{tier.url}{BASE}/internal/affected_manifest/", data=payload),
            repeat,
        )
        answer = http.post(f"{tier.url}{BASE}/internal/affected_manifest/", data=payload).json()
    out["affected_tier"] = summary(affected)
    baseline = PostgresStore(dsn, create_schema=False)
    try:
        pg_ms = timed(lambda: baseline.affected_manifests_batch(vulns), max(1, repeat // 3))
        expected = orjson.loads(baseline.affected_manifests_batch(vulns).to_json())
    finally:
        baseline.close()
    out["affected_postgres"] = summary(pg_ms)
    out["affected_same_answer"] = (
        answer["vulnerable_manifests"].keys() == expected["vulnerable_manifests"].keys()
    )
    log = tier.log()
    sources = re.findall(r'"route":"affected_manifest","status":(\d+),[^}]*"source":"(\w+)"', log)
    out["affected_sources"] = sorted({s for _, s in sources})
    return out


def conformance() -> str:
    """The schema conformance and token tests' closing line."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_serve_openapi.py",
            "tests/test_serve_auth.py",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
    )
    lines = [x for x in run.stdout.splitlines() if x.strip()]
    return lines[-1] if lines else f"pytest exited {run.returncode}"


def report(rows: list[Row], extra: dict[str, Any], command: str) -> str:
    """The tables for BENCHMARKS.md."""
    out = ["### `redis-store serve` on loopback (wrk)", "", f"Command: `{command}`", ""]
    r = extra.get("reports", {})
    out.append(
        f"{r.get('held')} reports held (median {r.get('median_bytes')} bytes, largest"
        f" {r.get('largest_bytes')} bytes); fill: {extra.get('fill')}."
    )
    out += [
        "",
        "| target | workers | conns | reports | encoding | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for x in rows:
        out.append(
            f"| {x.target} | {x.workers} | {x.connections} | {x.paths} | {x.encoding} |"
            f" {x.rps:,.0f} | {x.p50_ms:.2f} | {x.p99_ms:.2f} | {x.errors} |"
        )

    def find(target: str, w: int, c: int, paths: str) -> Row | None:
        return next(
            (
                x
                for x in rows
                if (x.target, x.workers, x.connections, x.paths, x.encoding)
                == (target, w, c, paths, "identity")
            ),
            None,
        )

    out += [
        "",
        "| workers | reports | tier / postgres req/s (target >= 10x) | postgres p99 / tier"
        " p99 (target >= 5x) | tier / floor (target >= 0.7x) | tier / nginx |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for w in sorted({x.workers for x in rows}):
        for paths in ("mix", "largest"):
            t, pg, fl, ng = (find(n, w, 16, paths) for n in ("tier", "postgres", "floor", "nginx"))
            fl = fl or find("floor", w, 16, "constant")
            if t is None:
                continue
            out.append(
                f"| {w} | {paths} | {t.rps / pg.rps:.1f}x |" if pg else f"| {w} | {paths} | - |"
            )
            out[-1] += f" {pg.p99_ms / t.p99_ms:.1f}x |" if pg else " - |"
            out[-1] += f" {t.rps / fl.rps:.2f}x |" if fl and paths == "mix" else " - |"
            out[-1] += f" {t.rps / ng.rps:.2f}x |" if ng else " - |"
    one = {
        k: extra[k]
        for k in (
            "miss",
            "post_held",
            "post_held_at_origin",
            "index_state",
            "affected_tier",
            "affected_postgres",
        )
        if k in extra
    }
    if one:
        out += ["", "| one request at a time | n | median ms | p99 ms |", "|---|---:|---:|---:|"]
        for k, v in one.items():
            out.append(f"| {k} | {v['n']} | {v['median_ms']} | {v['p99_ms']} |")
        if "affected_tier" in one and "affected_postgres" in one:
            ratio = one["affected_postgres"]["median_ms"] / one["affected_tier"]["median_ms"]
            out.append("")
            out.append(
                f"affected_manifest, 1,000 vulnerabilities: {ratio:.0f}x claircore's"
                f" PostgreSQL path (target >= 50x); answered by"
                f" {extra.get('affected_sources')}, same manifests as PostgreSQL:"
                f" {extra.get('affected_same_answer')}."
            )
    if "conformance" in extra:
        out.append(f"Conformance and tokens: {extra['conformance']}.")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
