"""Benchmark output: the JSON results, the side-by-side Markdown tables and the PNG chart."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

#: The contestants, in column order, and what the tables call them.
STORE_LABELS = {
    "redis": "Redis",
    "redis-nocache": "Redis, cache off",
    "postgres": "PostgreSQL",
}

#: Rows of the main table, in order (``index.*`` rows are added after them).
MAIN_OPS = (
    "end_to_end",
    "affected_manifests",
    "@batch",
    "delete_manifests",
)

#: Rows of the reads table, in order: each read cold, then repeated.
READ_ROWS = (
    "index_report (cold)",
    "index_report (repeat)",
    "index_report (cold, decoded)",
    "index_report (repeat, decoded)",
    "index_report_json (cold)",
    "index_report_json (repeat)",
    "manifest_scanned (cold)",
    "manifest_scanned (repeat)",
    "layer_scanned (cold)",
    "layer_scanned (repeat)",
    "packages_by_layer (cold)",
    "packages_by_layer (repeat)",
)

#: The floor's operations, in order.
FLOOR_ROWS = (
    "floor: GET + orjson.loads (report JSON)",
    "floor: GET (report JSON)",
    "floor: PING",
    "floor: PING, back to back (warm loop)",
    "floor: pipelined 100 SADDs",
)

#: Operations drawn in the chart, with their titles.
CHART_OPS = (
    ("end_to_end", "indexing, per manifest"),
    ("index_report (cold)", "index_report, cold"),
    ("index_report (repeat)", "index_report, repeat"),
    ("index_report (repeat, decoded)", "index_report, repeat, decoded"),
    ("index_report_json (repeat)", "index_report_json, repeat"),
    ("manifest_scanned (repeat)", "manifest_scanned, repeat"),
    ("layer_scanned (repeat)", "layer_scanned, repeat"),
    ("packages_by_layer (repeat)", "packages_by_layer, repeat"),
    ("affected_manifests", "affected_manifests"),
    ("@batch", "affected_manifests, batch"),
    ("delete_manifests", "delete_manifests"),
    ("index.set_index_report", "set_index_report (indexing)"),
)

#: Staleness: the longest a process may answer the old value after another's write, µs.
STALENESS_P99_US = 1000.0

#: Cache-off medians may be this much above the previous round's before they count as
#: slower (run-to-run noise on this VM: the same build measures within about 10%).
PREVIOUS_TOLERANCE = 1.10


def _ops(doc: dict[str, Any], store: str) -> dict[str, Any]:
    s = doc.get("stores", {}).get(store)
    return s.get("operations", {}) if s else {}


def _stores(doc: dict[str, Any]) -> list[str]:
    """The contestants of the run, in column order."""
    present = doc.get("stores", {})
    return [s for s in STORE_LABELS if present.get(s)]


def _store_ms(doc: dict[str, Any], store: str, manifests: int) -> float:
    """Milliseconds per manifest spent inside the store's methods while indexing."""
    total = sum(
        o.get("total_s") or 0.0 for name, o in _ops(doc, store).items() if name.startswith("index.")
    )
    return total * 1e3 / manifests if manifests else 0.0


def _batch_op(ops: dict[str, Any]) -> str | None:
    return next((k for k in ops if k.startswith("affected_manifests_batch(")), None)


def _resolve(op: str, ops: dict[str, Any]) -> str | None:
    if op == "@batch":
        return _batch_op(ops)
    return op if op in ops else None


def median(doc: dict[str, Any], store: str, op: str) -> float | None:
    ops = _ops(doc, store)
    key = _resolve(op, ops)
    if key is None or not ops[key].get("calls"):
        return None
    value = ops[key].get("median_ms")
    return float(value) if value is not None else None


def _on_cluster(doc: dict[str, Any]) -> bool:
    """Whether the run's Redis store ran on a Redis Cluster."""
    return bool(doc["meta"].get("redis_topology") == "cluster")


def _ratio(slow: float | None, fast: float | None) -> float | None:
    if slow is None or fast is None or fast <= 0:
        return None
    return slow / fast


# -- targets ------------------------------------------------------------------------------------


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """This round's targets (ratios of medians in this run), then the previous round's that
    are still checked, and whether each is met (None: not measured in this run)."""
    out: list[dict[str, Any]] = []
    stores = doc.get("stores", {})
    r, p = stores.get("redis"), stores.get("postgres")

    def add(
        name: str, need: str, value: float | None, ok: bool | None, note: str = "", **kw: Any
    ) -> None:
        row = {"target": name, "required": need, "value": value, "met": ok, "note": note}
        out.append(row | {"round": kw.get("round", "this"), "unit": kw.get("unit", "x")})

    def vs_pg(op: str, need: float, name: str | None = None) -> None:
        v = _ratio(median(doc, "postgres", op), median(doc, "redis", op))
        add(f"{name or op} (median)", f">= {need:g}x", v, None if v is None else v >= need)

    if r and p:
        e2e = _ratio(r["index"]["manifests_per_second"], p["index"]["manifests_per_second"])
        add(
            "end-to-end indexing (manifests/s)",
            ">= 4x (aim 5x)",
            e2e,
            None if e2e is None else e2e >= 4,
        )
        vs_pg("layer_scanned (repeat)", 10)
        vs_pg("manifest_scanned (repeat)", 10)
        vs_pg("packages_by_layer (repeat)", 5)
        vs_pg("index_report (repeat)", 3)
        v = _ratio(
            median(doc, "postgres", "index_report (repeat, decoded)"),
            median(doc, "redis", "index_report (repeat, decoded)"),
        )
        add(
            "index_report (repeat, every field decoded) (median)",
            "shown beside the lazy answer",
            v,
            None,
            "no target: what a caller that reads the whole report gets",
        )
        vs_pg("index_report_json (repeat)", 5)
        vs_pg("delete_manifests", 2)
    prev = doc.get("cache_off_vs_previous")
    if stores.get("redis-nocache"):
        worst = prev.get("worst_ratio") if prev else None
        add(
            "cache off: no median slower than the previous round's",
            f"<= {PREVIOUS_TOLERANCE:.2f}x the previous (worst operation)",
            worst,
            None if worst is None else worst <= PREVIOUS_TOLERANCE,
            (prev or {}).get("source") or "no previous figures for this size",
        )
    stale = doc.get("staleness") or {}
    for read in ("index_report_json", "manifest_scanned"):
        s = stale.get(read)
        if isinstance(s, dict) and "p99_us" in s:
            v = float(s["p99_us"])
            add(
                f"cross-process staleness, {read} (p99)",
                f"<= {STALENESS_P99_US / 1000:g} ms",
                v / 1000,
                v <= STALENESS_P99_US,
                unit="ms",
            )
    # the previous round's targets that were met, still checked
    floor = doc.get("floor") or {}
    fkey = "floor: GET + orjson.loads (report JSON)"
    if r and fkey in floor:
        v = _ratio(median(doc, "redis", "index_report (cold, decoded)"), floor[fkey]["median_ms"])
        add(
            "index_report (cold, decoded) vs GET + orjson.loads of the same reports",
            "<= 1.5x the floor",
            v,
            None if v is None else v <= 1.5,
            round="previous",
        )
    if r and p:
        v = _ratio(
            median(doc, "postgres", "affected_manifests"),
            median(doc, "redis", "affected_manifests"),
        )
        add(
            "affected_manifests (median)",
            ">= 10x",
            v,
            None if v is None else v >= 10,
            round="previous",
        )
        v = _ratio(median(doc, "postgres", "@batch"), median(doc, "redis", "@batch"))
        add(
            "affected_manifests batch vs PostgreSQL sequential calls",
            ">= 20x",
            v,
            None if v is None else v >= 20,
            round="previous",
        )
        mem = r.get("memory", {})
        per = mem.get("info_delta_per_manifest")
        if mem.get("server_shared"):
            per = mem.get("memory_usage_per_manifest")
        v = _ratio(per, p.get("storage", {}).get("per_manifest"))
        add(
            "Redis memory per manifest / PostgreSQL bytes per manifest",
            "<= 0.5",
            v,
            None if v is None else v <= 0.5,
            "INFO used_memory delta vs pg_total_relation_size after VACUUM FULL",
            round="previous",
            unit="",
        )
    return out


# -- Markdown -----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    if value >= 0.01:
        return f"{value * 1000:.0f} µs"
    return f"{value * 1000:.1f} µs"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _x(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def _bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _trips(o: dict[str, Any]) -> str:
    trips = o.get("round_trips_median")
    return "-" if trips is None else f"{trips:g}"


def _label(op: str, ops: dict[str, Any]) -> str:
    if op == "end_to_end":
        return "indexing, end to end (per manifest)"
    if op == "@batch":
        return _batch_op(ops) or "affected_manifests_batch"
    return op


def _main_header(stores: list[str]) -> list[str]:
    cells = ["operation", "calls"]
    align = ["---", "--:"]
    for st in stores:
        name = STORE_LABELS[st]
        if st == "redis-nocache":
            cells += [f"{name} median", f"{name} round trips"]
            align += ["--:", "--:"]
            continue
        cells += [f"{name} median", f"{name} p99", f"{name} ops/s"]
        align += ["--:", "--:", "--:"]
        if st == "redis":
            cells.append(f"{name} round trips")
            align.append("--:")
    if "postgres" in stores and "redis" in stores:
        cells.append("PG / Redis")
        align.append("--:")
    return ["| " + " | ".join(cells) + " |", "|" + "|".join(align) + "|"]


def _main_row(
    op: str, doc: dict[str, Any], stores: list[str], label: str | None = None
) -> str | None:
    keyed = {st: _resolve(op, _ops(doc, st)) for st in stores}
    if all(k is None for k in keyed.values()):
        return None
    found = {st: (_ops(doc, st).get(k, {}) if k else {}) for st, k in keyed.items()}
    calls = next((o["calls"] for o in found.values() if o.get("calls")), 0)
    cells = [
        label or _label(op, next((_ops(doc, st) for st in stores if keyed[st]), {})),
        f"{calls:,}",
    ]
    for st in stores:
        o = found[st]
        if st == "redis-nocache":
            cells += [_ms(o.get("median_ms")), _trips(o)]
            continue
        cells += [_ms(o.get("median_ms")), _ms(o.get("p99_ms")), _rate(o.get("throughput_per_s"))]
        if st == "redis":
            cells.append(_trips(o))
    if "postgres" in stores and "redis" in stores:
        cells.append(
            _x(_ratio(found["postgres"].get("median_ms"), found["redis"].get("median_ms")))
        )
    return "| " + " | ".join(cells) + " |"


def _index_ops(doc: dict[str, Any], stores: list[str]) -> list[str]:
    """The controller's calls, the costliest first."""
    return sorted(
        {k for s in stores for k in _ops(doc, s) if k.startswith("index.")},
        key=lambda k: -max((_ops(doc, s).get(k, {}).get("total_s") or 0.0) for s in stores),
    )


def _reads_table(doc: dict[str, Any], stores: list[str]) -> list[str]:
    cells = ["read", "calls"]
    align = ["---", "--:"]
    for st in stores:
        name = STORE_LABELS[st]
        cells += [f"{name} median", f"{name} p99"]
        align += ["--:", "--:"]
        if st != "postgres":
            cells.append(f"{name} round trips")
            align.append("--:")
    pg = "postgres" in stores
    for st in stores:
        if pg and st != "postgres":
            cells.append(f"PG / {STORE_LABELS[st]}")
            align.append("--:")
    lines = ["| " + " | ".join(cells) + " |", "|" + "|".join(align) + "|"]
    for op in READ_ROWS:
        found = {st: _ops(doc, st).get(op) or {} for st in stores}
        if not any(found.values()):
            continue
        calls = next((o["calls"] for o in found.values() if o.get("calls")), 0)
        row = [op, f"{calls:,}"]
        for st in stores:
            o = found[st]
            row += [_ms(o.get("median_ms")), _ms(o.get("p99_ms"))]
            if st != "postgres":
                row.append(_trips(o))
        for st in stores:
            if pg and st != "postgres":
                row.append(
                    _x(_ratio(found["postgres"].get("median_ms"), found[st].get("median_ms")))
                )
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _floor_table(doc: dict[str, Any]) -> list[str]:
    floor = doc.get("floor") or {}
    rows = [k for k in FLOOR_ROWS if isinstance(floor.get(k), dict)]
    rows += [
        k
        for k, v in floor.items()
        if k.startswith("floor:") and isinstance(v, dict) and k not in rows
    ]
    if not rows:
        return []
    lines = [
        "The Redis floor (plain redis-py on the Redis store's server, beside the reads):",
        "",
        "| floor | calls | median | p99 | ops/s |",
        "|---|--:|--:|--:|--:|",
    ]
    for k in rows:
        v = floor[k]
        lines.append(
            f"| {k[len('floor: ') :]} | {v['calls']:,} | {_ms(v['median_ms'])} |"
            f" {_ms(v['p99_ms'])} | {_rate(v['throughput_per_s'])} |"
        )
    return [*lines, ""]


def _breakdown_table(doc: dict[str, Any], stores: list[str], n: int) -> list[str]:
    index_ops = _index_ops(doc, stores)
    if not index_ops or not n:
        return []
    cells = ["call", "calls per manifest"]
    align = ["---", "--:"]
    for st in stores:
        cells.append(f"{STORE_LABELS[st]} ms per manifest")
        align.append("--:")
        if st != "postgres":
            cells.append(f"{STORE_LABELS[st]} round trips per manifest")
            align.append("--:")
    lines = [
        "Where indexing time goes (per manifest, summed over the controller's calls):",
        "",
        "| " + " | ".join(cells) + " |",
        "|" + "|".join(align) + "|",
    ]
    totals = {st: [0.0, 0.0] for st in stores}
    for op in index_ops:
        calls = 0.0
        row: list[str] = []
        for st in stores:
            o = _ops(doc, st).get(op)
            if o and o.get("calls"):
                calls = o["calls"] / n
                ms = (o.get("total_s") or 0.0) * 1e3 / n
                totals[st][0] += ms
                row.append(_ms(ms))
                if st != "postgres":
                    trips = o.get("round_trips_total")
                    if trips is not None:
                        totals[st][1] += trips / n
                    row.append("-" if trips is None else f"{trips / n:.1f}")
            else:
                row += ["-"] if st == "postgres" else ["-", "-"]
        lines.append(f"| {op[len('index.') :]} | {calls:.1f} | " + " | ".join(row) + " |")
    row = []
    for st in stores:
        row.append(f"**{_ms(totals[st][0])}**")
        if st != "postgres":
            row.append(f"**{totals[st][1]:.1f}**")
    lines.append("| **every store call** | | " + " | ".join(row) + " |")
    return [*lines, ""]


def _previous_table(doc: dict[str, Any]) -> list[str]:
    prev = doc.get("cache_off_vs_previous")
    if not prev or not prev.get("rows"):
        return []
    lines = [
        f"The Redis store with the cache off against the previous round ({prev['source']};"
        " above 1.0x is slower now; operations marked * take no round trip and are not"
        " held to it):",
        "",
        "| operation | cache off median | previous median | now / before |",
        "|---|--:|--:|--:|",
    ]
    ping = prev.get("floor_ping")
    if ping:
        lines.append(
            f"| floor: PING (the machine's round trip, not the store) | {_ms(ping['median_ms'])} |"
            f" {_ms(ping['previous_median_ms'])} | {_x(ping['ratio'])} |"
        )
    rate = prev.get("rate")
    if rate:
        lines.append(
            f"| indexing, manifests/s | {rate['manifests_per_second']:.1f} |"
            f" {rate['previous']:.1f} | {_x(rate['ratio'])} |"
        )
    for row in sorted(prev["rows"], key=lambda r: -r["ratio"]):
        mark = "" if row["compared"] else " *"
        lines.append(
            f"| {row['operation']}{mark} | {_ms(row['median_ms'])} |"
            f" {_ms(row['previous_median_ms'])} | {_x(row['ratio'])} |"
        )
    return [*lines, ""]


def _polling_table(doc: dict[str, Any]) -> list[str]:
    poll = doc.get("polling")
    if not poll:
        return []
    if "error" in poll:
        return [f"Polling phase failed: {poll['error']}", ""]
    decoded = "every field decoded" if poll.get("decode") else "as returned, not decoded"
    lines = [
        f"Polling ({poll['seconds']:g} s a run): reader processes read `index_report` ({decoded})"
        " and `manifest_scanned` of random indexed manifests in a loop while one process"
        " indexes new manifests:",
        "",
        "| store | readers | reads/s (all readers) | read p50 | read p99 |"
        " index_report p50 / p99 | manifest_scanned p50 / p99 | cache hits |"
        " indexer manifests/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in poll["runs"]:
        read, by = run["read"], run["by_read"]

        def pair(x: dict[str, Any]) -> str:
            if not x.get("reads"):
                return "-"
            return f"{_ms(x['p50_ms'])} / {_ms(x['p99_ms'])}"

        hit = (run.get("cache") or {}).get("hit_ratio")
        idx = run["indexer"]
        rate = _rate(idx["manifests_per_second"]) + (" (ran out)" if idx["exhausted"] else "")
        lines.append(
            f"| {STORE_LABELS.get(run['store'], run['store'])} | {run['readers']} |"
            f" {_rate(run['reads_per_second']) if run['readers'] else '-'} |"
            f" {_ms(read.get('p50_ms'))} | {_ms(read.get('p99_ms'))} |"
            f" {pair(by.get('index_report', {}))} | {pair(by.get('manifest_scanned', {}))} |"
            f" {'-' if hit is None else f'{hit:.1%}'} | {rate} |"
        )
    return [*lines, ""]


def _staleness_table(doc: dict[str, Any]) -> list[str]:
    stale = doc.get("staleness")
    if not stale:
        return []
    if "error" in stale:
        return [f"Staleness measurement failed: {stale['error']}", ""]
    lines = [
        "Cross-process staleness (another process's write returned → this process, cache on,"
        " answers the new value; `scripts/staleness.py`):",
        "",
        "| read | writes | median | p99 | max |",
        "|---|--:|--:|--:|--:|",
    ]
    for read, s in stale.items():
        lines.append(
            f"| {read} | {s['writes']:,} | {_ms(s['median_us'] / 1000)} |"
            f" {_ms(s['p99_us'] / 1000)} | {_ms(s['max_us'] / 1000)} |"
        )
    return [*lines, ""]


def _cache_line(doc: dict[str, Any]) -> list[str]:
    r = doc.get("stores", {}).get("redis") or {}
    cache = r.get("cache") or {}
    parts = []
    for when, label in (("after_index", "after indexing"), ("after_reads", "after the reads")):
        c = cache.get(when)
        if c:
            parts.append(
                f"{label}: {c['state']}, {c['hits']:,} hits, {c['misses']:,} misses,"
                f" {c['invalidations']:,} invalidations, {c['refused']:,} refused"
            )
    if not parts:
        return []
    return ["Redis local cache (" + "; ".join(parts) + ")", ""]


def markdown(doc: dict[str, Any]) -> str:
    """The stores side by side; ratio columns are PostgreSQL median / the store's median."""
    meta = doc["meta"]
    n = meta["manifests"]
    stores = doc.get("stores", {})
    cols = _stores(doc)
    lines = [f"### N = {n:,} manifests (seed {meta['seed']})", ""]
    head = []
    where = ""
    if _on_cluster(doc):
        where = f" on a Redis Cluster of {meta['cluster_masters']} primaries"
    for st in cols:
        idx = stores[st]["index"]
        name = {
            "redis": f"Redis store{where}, local cache on",
            "redis-nocache": f"Redis store{where}, local cache off",
            "postgres": "PostgreSQL store",
        }[st]
        head.append(
            f"{name}: {idx['manifests_per_second']:.1f} manifests/s end to end"
            f" ({idx['manifests_per_second_without_register_scanners']:.1f} without the"
            " per-manifest `register_scanners`)"
        )
    if "postgres" in cols:
        pg_rate = stores["postgres"]["index"]["manifests_per_second"]
        ratios = [
            f"{STORE_LABELS[st]} **{stores[st]['index']['manifests_per_second'] / pg_rate:.1f}x**"
            for st in cols
            if st != "postgres"
        ]
        if ratios:
            head.append("end-to-end ratio against PostgreSQL: " + ", ".join(ratios))
        inside = {st: _store_ms(doc, st, n) for st in cols}
        if all(inside.values()):
            head.append(
                "time inside the store's calls while indexing: "
                + ", ".join(f"{STORE_LABELS[st]} {inside[st]:.2f} ms" for st in cols)
                + " per manifest; the rest of a manifest's time is the controller's own work"
                " (planning, coalescing, building reports), the same for every store"
            )
    lines += [f"- {h}" for h in head]
    lines += ["", *_main_header(cols)]
    for op in MAIN_OPS:
        row = _main_row(op, doc, cols)
        if row:
            lines.append(row)
    for op in _index_ops(doc, cols):
        row = _main_row(op, doc, cols, f"↳ {op[len('index.') :]} (while indexing)")
        if row:
            lines.append(row)
    lines.append("")
    if any(_ops(doc, st).get(r) for st in cols for r in READ_ROWS):
        lines += [
            "Reads: each item read *cold* (the local cache emptied just before) then"
            " *repeat* (the same item again); `decoded` rows include touching every field of"
            " the report (the Redis store's `index_report` decodes lazily):",
            "",
            *_reads_table(doc, cols),
            "",
        ]
    lines += _floor_table(doc)
    lines += _cache_line(doc)
    lines += _breakdown_table(doc, cols, n)
    lines += _previous_table(doc)
    lines += _polling_table(doc)
    lines += _staleness_table(doc)
    # reads by report size
    sized = {st: (stores[st].get("reads") or {}).get("index_report_by_size") or [] for st in cols}
    if len(cols) > 1 and all(sized.values()):
        lines += [
            "`index_report (repeat, decoded)` by report size (package count terciles of the"
            " sample):",
            "",
            "| packages | " + " | ".join(f"{STORE_LABELS[st]} median" for st in cols) + " |",
            "|---|" + "--:|" * len(cols),
        ]
        first = sized[cols[0]]
        for k, part in enumerate(first):
            cells = [_ms(sized[st][k]["median_ms"]) if k < len(sized[st]) else "-" for st in cols]
            lines.append(
                f"| {part['packages_min']}-{part['packages_max']} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    # memory and storage
    if cols:
        lines += ["| space per manifest | bytes |", "|---|--:|"]
        for st in cols:
            if st == "postgres":
                s = stores[st]["storage"]
                lines.append(
                    f"| PostgreSQL `pg_total_relation_size` after `VACUUM FULL` |"
                    f" {_bytes(s['per_manifest'])} |"
                )
                before = _bytes(s["per_manifest_before_vacuum"])
                lines.append(f"| PostgreSQL before `VACUUM FULL` | {before} |")
                continue
            m = stores[st].get("memory")
            if not m:
                continue
            shared = " (server shared by both Redis stores)" if m.get("server_shared") else ""
            lines.append(
                f"| {STORE_LABELS[st]} `INFO used_memory` delta{shared} |"
                f" {_bytes(m['info_delta_per_manifest'])} |"
            )
            usage = _bytes(m["memory_usage_per_manifest"])
            lines.append(f"| {STORE_LABELS[st]} `MEMORY USAGE` sum | {usage} |")
        lines.append("")
        r = stores.get("redis") or stores.get("redis-nocache")
        if r and r.get("memory"):
            fams = r["memory"]["families"]
            lines.append(
                "Redis by key family (per manifest): "
                + ", ".join(f"{f} {_bytes(v['per_manifest'])}" for f, v in _largest(fams, 8))
            )
            if _on_cluster(doc):
                lines += _per_primary(r["memory"].get("primaries") or {})
        p = stores.get("postgres")
        if p:
            tables = p["storage"]["tables"]
            lines.append(
                "PostgreSQL by table (per manifest): "
                + ", ".join(f"{t} {_bytes(v['per_manifest'])}" for t, v in _largest(tables, 8))
            )
        lines.append("")
    # targets
    tg = doc.get("targets") or []
    if tg:
        lines += ["| target | required | measured | met |", "|---|---|--:|---|"]
        for round_, title in (("this", ""), ("previous", " (previous round)")):
            for t in tg:
                if t.get("round", "this") != round_:
                    continue
                value, unit = t["value"], t.get("unit", "x")
                if value is None:
                    shown = "-"
                elif unit == "ms":
                    shown = _ms(value)
                elif unit == "x":
                    shown = _x(value)
                else:
                    shown = f"{value:.2f}"
                met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
                lines.append(f"| {t['target']}{title} | {t['required']} | {shown} | {met} |")
        lines.append("")
    lines += _checks_lines(doc)
    return "\n".join(lines)


def _checks_lines(doc: dict[str, Any]) -> list[str]:
    checks = doc.get("checks") or {}
    if not checks or "index_report_compared" not in checks:
        return []

    def same(c: dict[str, Any]) -> str:
        return (
            f"index_report {c['index_report_compared'] - c['index_report_mismatches']}"
            f"/{c['index_report_compared']}, index_report_json"
            f" {c['index_report_json_compared'] - c['index_report_json_mismatches']}"
            f"/{c['index_report_json_compared']}, packages_by_layer"
            f" {c['packages_by_layer_compared'] - c['packages_by_layer_mismatches']}"
            f"/{c['packages_by_layer_compared']}, affected_manifests"
            f" {c['affected_compared'] - c['affected_mismatches']}"
            f"/{c['affected_compared']}, batch"
            f" {'equal' if c['affected_batch_equal'] else '**different**'}"
        )

    lines = [f"Same answers as PostgreSQL: Redis {same(checks)}"]
    nocache = checks.get("redis-nocache")
    if isinstance(nocache, dict):
        lines[0] += f"; Redis, cache off {same(nocache)}"
    repeats = checks.get("repeat_mismatches") or {}
    if repeats:
        lines[0] += "; repeated reads answering otherwise than the first: " + ", ".join(
            f"{STORE_LABELS.get(k, k)} {v}" for k, v in repeats.items()
        )
    return [lines[0] + ".", ""]


def _largest(parts: dict[str, Any], n: int) -> list[tuple[str, Any]]:
    """The ``n`` largest key families or tables (the results file sorts its keys by name)."""
    size = "bytes" if all("bytes" in v for v in parts.values()) else "per_manifest"
    return sorted(parts.items(), key=lambda kv: -(kv[1].get(size) or 0))[:n]


def _per_primary(nodes: dict[str, Any]) -> list[str]:
    """How a cluster's memory falls on its primaries: totals and the largest key families."""
    lines = [
        "",
        "| primary | keys | `INFO used_memory` delta | `MEMORY USAGE` sum | largest families |",
        "|---|--:|--:|--:|---|",
    ]
    for name, m in nodes.items():
        fams = ", ".join(f"{f} {_bytes(v['bytes'])}" for f, v in _largest(m["families"], 4))
        lines.append(
            f"| {name} | {m['keys']:,} | {_bytes(m['info_delta_bytes'])} |"
            f" {_bytes(m['memory_usage_bytes'])} | {fams} |"
        )
    return lines


# -- chart --------------------------------------------------------------------------------------


def chart(docs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Median latency per operation against N, every store, log-log; None without data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    docs = sorted(docs, key=lambda d: d["meta"]["manifests"])
    if not docs:
        return None
    cols = 3
    rows = math.ceil(len(CHART_OPS) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    styles = {
        "redis": ("#d62728", "o", "redis-store, local cache on"),
        "redis-nocache": ("#ff9896", "^", "redis-store, local cache off"),
        "postgres": ("#1f77b4", "s", "PostgreSQL (claircore schema)"),
    }
    for ax, (op, title) in zip(axes.flat, CHART_OPS, strict=False):
        for store, (color, marker, label) in styles.items():
            xs, ys = [], []
            for d in docs:
                v = median(d, store, op)
                if v is not None:
                    xs.append(d["meta"]["manifests"])
                    ys.append(v)
            if xs:
                ax.plot(xs, ys, color=color, marker=marker, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("manifests (N)", fontsize=8)
        ax.set_ylabel("median latency (ms)", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        plain = FuncFormatter(lambda value, _pos: f"{value:g}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(CHART_OPS) :]:
        ax.axis("off")
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes.flat:  # the legend of the panel that has every store
        h, lab = ax.get_legend_handles_labels()
        if len(lab) > len(labels):
            handles, labels = h, lab
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9)
    fig.suptitle("Median latency per operation against registry size", fontsize=12)
    # fixed margins: tight_layout would measure every label (about a second per chart)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.93, bottom=0.09, hspace=0.55, wspace=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- files --------------------------------------------------------------------------------------


def load_all(out: Path) -> list[dict[str, Any]]:
    docs = []
    for f in sorted(out.glob("bench-n*.json")):
        try:
            docs.append(orjson.loads(f.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            continue
    return docs


def _merge_for_chart(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per N: the one measuring more stores, then the newest."""
    by_n: dict[int, dict[str, Any]] = {}
    for d in docs:
        if _on_cluster(d):  # the chart compares one server with PostgreSQL
            continue
        n = d["meta"]["manifests"]
        key = (len(d.get("stores", {})), d["meta"].get("started", ""))
        old = by_n.get(n)
        if old is None or key >= (len(old.get("stores", {})), old["meta"].get("started", "")):
            by_n[n] = d
    return list(by_n.values())


def write(doc: dict[str, Any], out: Path, *, draw: bool = True) -> dict[str, Path]:
    """``bench-n<N>.json`` and ``.md`` in ``out``; redraw ``latency-vs-n.png`` from every
    ``bench-n*.json`` there."""
    n = doc["meta"]["manifests"]
    stem = f"bench-n{n}"
    if doc["meta"].get("stores") and len(doc["meta"]["stores"]) == 1:
        stem += "-" + doc["meta"]["stores"][0]
    if _on_cluster(doc):
        stem += "-cluster"
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}
    paths["json"].write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    paths["markdown"].write_text(markdown(doc) + "\n")
    if draw:
        png = chart(_merge_for_chart(load_all(out)), out / "latency-vs-n.png")
        if png is not None:
            paths["chart"] = png
    return paths


__all__ = ["STORE_LABELS", "chart", "load_all", "markdown", "median", "targets", "write"]
