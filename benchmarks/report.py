"""Benchmark output: the JSON results, the side-by-side Markdown tables and the PNG chart."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

#: Rows of the main table, in order (``index.*`` rows are added after ``end_to_end``).
MAIN_OPS = (
    "end_to_end",
    "index_report",
    "manifest_scanned",
    "layer_scanned",
    "packages_by_layer",
    "affected_manifests",
    "@batch",
    "delete_manifests",
)

#: Operations drawn in the chart, with their titles.
CHART_OPS = (
    ("end_to_end", "indexing, per manifest"),
    ("index_report", "index_report"),
    ("manifest_scanned", "manifest_scanned"),
    ("layer_scanned", "layer_scanned"),
    ("packages_by_layer", "packages_by_layer"),
    ("affected_manifests", "affected_manifests"),
    ("@batch", "affected_manifests, batch"),
    ("delete_manifests", "delete_manifests"),
    ("index.set_index_report", "set_index_report (indexing)"),
)


def _store_ms(doc: dict[str, Any], store: str, manifests: int) -> float:
    """Milliseconds per manifest spent inside the store's methods while indexing."""
    total = sum(
        o.get("total_s") or 0.0 for name, o in _ops(doc, store).items() if name.startswith("index.")
    )
    return total * 1e3 / manifests if manifests else 0.0


def _ops(doc: dict[str, Any], store: str) -> dict[str, Any]:
    s = doc.get("stores", {}).get(store)
    return s.get("operations", {}) if s else {}


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
    """The issue's targets (ratios of medians in this run) and whether each is met."""
    out: list[dict[str, Any]] = []
    stores = doc.get("stores", {})
    r, p = stores.get("redis"), stores.get("postgres")

    def add(name: str, need: str, value: float | None, ok: bool | None, note: str = "") -> None:
        out.append({"target": name, "required": need, "value": value, "met": ok, "note": note})

    if r and p:
        e2e = _ratio(r["index"]["manifests_per_second"], p["index"]["manifests_per_second"])
        add(
            "end-to-end indexing (manifests/s)",
            ">= 5x (aim 10x)",
            e2e,
            None if e2e is None else e2e >= 5,
        )
        for op in ("index_report", "manifest_scanned", "layer_scanned", "packages_by_layer"):
            v = _ratio(median(doc, "postgres", op), median(doc, "redis", op))
            add(f"{op} (median)", ">= 3x", v, None if v is None else v >= 3)
    floor = doc.get("floor") or {}
    fkey = "floor: GET + orjson.loads (report JSON)"
    if r and fkey in floor:
        v = _ratio(median(doc, "redis", "index_report"), floor[fkey].get("median_ms"))
        add(
            "index_report vs GET + orjson.loads of the same reports",
            "<= 1.5x the floor",
            v,
            None if v is None else v <= 1.5,
        )
    if r and p:
        v = _ratio(
            median(doc, "postgres", "affected_manifests"),
            median(doc, "redis", "affected_manifests"),
        )
        add("affected_manifests (median)", ">= 10x", v, None if v is None else v >= 10)
        v = _ratio(median(doc, "postgres", "@batch"), median(doc, "redis", "@batch"))
        add(
            "affected_manifests batch vs PostgreSQL sequential calls",
            ">= 20x",
            v,
            None if v is None else v >= 20,
        )
        v = _ratio(
            median(doc, "postgres", "delete_manifests"), median(doc, "redis", "delete_manifests")
        )
        add("delete_manifests (median)", ">= 2x", v, None if v is None else v >= 2)
        mem = r.get("memory", {}).get("info_delta_per_manifest")
        disk = p.get("storage", {}).get("per_manifest")
        v = _ratio(mem, disk)
        add(
            "Redis memory per manifest / PostgreSQL bytes per manifest",
            "<= 0.5",
            v,
            None if v is None else v <= 0.5,
            "INFO used_memory delta vs pg_total_relation_size after VACUUM FULL",
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
    return f"{value * 1000:.0f} µs"


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


def _label(op: str, ops: dict[str, Any]) -> str:
    if op == "end_to_end":
        return "indexing, end to end (per manifest)"
    if op == "@batch":
        return _batch_op(ops) or "affected_manifests_batch"
    return op


def _row(op: str, doc: dict[str, Any], label: str | None = None) -> str | None:
    rops, pops = _ops(doc, "redis"), _ops(doc, "postgres")
    rk, pk = _resolve(op, rops), _resolve(op, pops)
    if rk is None and pk is None:
        return None
    r = rops.get(rk, {}) if rk else {}
    p = pops.get(pk, {}) if pk else {}
    calls = r.get("calls") or p.get("calls") or 0
    trips = r.get("round_trips_median")
    trips_text = "-" if trips is None else f"{trips:g}"
    ratio = _ratio(p.get("median_ms"), r.get("median_ms"))
    name = label or _label(op, rops or pops)
    return (
        f"| {name} | {calls:,} | {_ms(r.get('median_ms'))} | {_ms(r.get('p99_ms'))} |"
        f" {_rate(r.get('throughput_per_s'))} | {trips_text} | {_ms(p.get('median_ms'))} |"
        f" {_ms(p.get('p99_ms'))} | {_rate(p.get('throughput_per_s'))} | {_x(ratio)} |"
    )


def markdown(doc: dict[str, Any]) -> str:
    """Both stores side by side; the ratio column is PostgreSQL median / Redis median."""
    meta = doc["meta"]
    n = meta["manifests"]
    stores = doc.get("stores", {})
    r, p = stores.get("redis"), stores.get("postgres")
    lines = [
        f"### N = {n:,} manifests (seed {meta['seed']})",
        "",
    ]
    head = []
    if r:
        idx = r["index"]
        where = ""
        if _on_cluster(doc):
            where = f" on a Redis Cluster of {meta['cluster_masters']} primaries"
        head.append(
            f"Redis store{where}: {idx['manifests_per_second']:.1f} manifests/s end to end"
            f" ({idx['manifests_per_second_without_register_scanners']:.1f} without the"
            " per-manifest `register_scanners`)"
        )
    if p:
        idx = p["index"]
        head.append(
            f"PostgreSQL store: {idx['manifests_per_second']:.1f} manifests/s end to end"
            f" ({idx['manifests_per_second_without_register_scanners']:.1f} without the"
            " per-manifest `register_scanners`)"
        )
    if r and p:
        ratio = r["index"]["manifests_per_second"] / p["index"]["manifests_per_second"]
        head.append(f"end-to-end ratio: **{ratio:.1f}x**")
        in_redis, in_pg = _store_ms(doc, "redis", n), _store_ms(doc, "postgres", n)
        if in_redis and in_pg:
            head.append(
                f"time inside the store's calls while indexing: Redis {in_redis:.2f} ms,"
                f" PostgreSQL {in_pg:.2f} ms per manifest (**{in_pg / in_redis:.1f}x**); the"
                " rest of a manifest's time is the controller's own work (planning, coalescing,"
                " building reports), the same for both stores"
            )
    lines += [f"- {h}" for h in head]
    lines += [
        "",
        "| operation | calls | Redis median | Redis p99 | Redis ops/s | Redis round trips |"
        " PostgreSQL median | PostgreSQL p99 | PostgreSQL ops/s | PG / Redis |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for op in MAIN_OPS:
        row = _row(op, doc)
        if row:
            lines.append(row)
    index_ops = sorted(
        {k for s in ("redis", "postgres") for k in _ops(doc, s) if k.startswith("index.")},
        key=lambda k: (
            -max((_ops(doc, s).get(k, {}).get("total_s") or 0.0) for s in ("redis", "postgres"))
        ),
    )
    for op in index_ops:
        row = _row(op, doc, f"↳ {op[len('index.') :]} (while indexing)")
        if row:
            lines.append(row)
    floor = doc.get("floor") or {}
    for key, value in floor.items():
        if not key.startswith("floor:") or not isinstance(value, dict):
            continue
        lines.append(
            f"| {key} | {value['calls']:,} | {_ms(value['median_ms'])} | {_ms(value['p99_ms'])} |"
            f" {_rate(value['throughput_per_s'])} | 1 | | | | |"
        )
    lines.append("")
    # where the indexing time goes
    n_idx = {st: n if stores.get(st) else 0 for st in ("redis", "postgres")}
    if index_ops and any(n_idx.values()):
        lines += [
            "Where indexing time goes (per manifest, summed over the controller's calls):",
            "",
            "| call | calls per manifest | Redis ms per manifest | PostgreSQL ms per manifest |",
            "|---|--:|--:|--:|",
        ]
        for op in index_ops:
            cells = []
            calls = 0.0
            for st in ("redis", "postgres"):
                o = _ops(doc, st).get(op)
                if o and n_idx[st]:
                    calls = o["calls"] / n_idx[st]
                    cells.append(_ms((o.get("total_s") or 0.0) * 1e3 / n_idx[st]))
                else:
                    cells.append("-")
            lines.append(f"| {op[len('index.') :]} | {calls:.1f} | {cells[0]} | {cells[1]} |")
        lines.append("")
    # reads by report size
    if r and p:
        rs = r["reads"].get("index_report_by_size") or []
        ps = p["reads"].get("index_report_by_size") or []
        if rs and ps:
            lines += [
                "`index_report` by report size (package count terciles of the sample):",
                "",
                "| packages | Redis median | PostgreSQL median | PG / Redis |",
                "|---|--:|--:|--:|",
            ]
            for a, b in zip(rs, ps, strict=False):
                lines.append(
                    f"| {a['packages_min']}-{a['packages_max']} | {_ms(a['median_ms'])} |"
                    f" {_ms(b['median_ms'])} | {_x(_ratio(b['median_ms'], a['median_ms']))} |"
                )
            lines.append("")
    # memory and storage
    if r or p:
        lines += ["| space per manifest | bytes |", "|---|--:|"]
        if r:
            m = r["memory"]
            lines.append(
                f"| Redis `INFO used_memory` delta | {_bytes(m['info_delta_per_manifest'])} |"
            )
            lines.append(f"| Redis `MEMORY USAGE` sum | {_bytes(m['memory_usage_per_manifest'])} |")
        if p:
            s = p["storage"]
            lines.append(
                f"| PostgreSQL `pg_total_relation_size` after `VACUUM FULL` |"
                f" {_bytes(s['per_manifest'])} |"
            )
            lines.append(
                f"| PostgreSQL before `VACUUM FULL` | {_bytes(s['per_manifest_before_vacuum'])} |"
            )
        lines.append("")
        if r:
            fams = r["memory"]["families"]
            lines.append(
                "Redis by key family (per manifest): "
                + ", ".join(f"{f} {_bytes(v['per_manifest'])}" for f, v in list(fams.items())[:8])
            )
        if r and _on_cluster(doc):
            lines += _per_primary(r["memory"].get("primaries") or {})
        if p:
            tables = p["storage"]["tables"]
            lines.append(
                "PostgreSQL by table (per manifest): "
                + ", ".join(f"{t} {_bytes(v['per_manifest'])}" for t, v in list(tables.items())[:8])
            )
        lines.append("")
    # targets
    tg = doc.get("targets") or []
    if tg:
        lines += ["| target | required | measured | met |", "|---|---|--:|---|"]
        for t in tg:
            value = t["value"]
            shown = (
                "-" if value is None else (f"{value:.2f}" if "memory" in t["target"] else _x(value))
            )
            met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
            lines.append(f"| {t['target']} | {t['required']} | {shown} | {met} |")
        lines.append("")
    checks = doc.get("checks") or {}
    if checks:
        same = checks["index_report_compared"] - checks["index_report_mismatches"]
        lines.append(
            f"Same answers: index_report {same}"
            f"/{checks['index_report_compared']}, packages_by_layer"
            f" {checks['packages_by_layer_compared'] - checks['packages_by_layer_mismatches']}"
            f"/{checks['packages_by_layer_compared']}, affected_manifests"
            f" {checks['affected_compared'] - checks['affected_mismatches']}"
            f"/{checks['affected_compared']}, batch"
            f" {'equal' if checks['affected_batch_equal'] else '**different**'}."
        )
        lines.append("")
    return "\n".join(lines)


def _per_primary(nodes: dict[str, Any]) -> list[str]:
    """How a cluster's memory falls on its primaries: totals and the largest key families."""
    lines = [
        "",
        "| primary | keys | `INFO used_memory` delta | `MEMORY USAGE` sum | largest families |",
        "|---|--:|--:|--:|---|",
    ]
    for name, m in nodes.items():
        fams = ", ".join(f"{f} {_bytes(v['bytes'])}" for f, v in list(m["families"].items())[:4])
        lines.append(
            f"| {name} | {m['keys']:,} | {_bytes(m['info_delta_bytes'])} |"
            f" {_bytes(m['memory_usage_bytes'])} | {fams} |"
        )
    return lines


# -- chart --------------------------------------------------------------------------------------


def chart(docs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Median latency per operation against N, both stores, log-log; None without data."""
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
        "redis": ("#d62728", "o", "redis-store"),
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
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9)
    fig.suptitle("Median latency per operation against registry size", fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
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


__all__ = ["chart", "load_all", "markdown", "median", "targets", "write"]
