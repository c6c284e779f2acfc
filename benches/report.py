#!/usr/bin/env python3
"""Charts and tables for docs/benchmarks.md, from one run of
benches/load.sh (its results.tsv) and, if present, criterion's estimates
(target/criterion/*/*/new/estimates.json).

    python3 benches/report.py target/load/<run>  [--out docs]

Writes OUT/charts/*.svg (horizontal bar charts, no dependencies) and
prints the Markdown tables, every figure beside its ratio to the matching
reference: cohost jit to `wasmtime serve`, cohost interp to Pulley, a
reusing host to the same host with reuse, everything to bare hyper.
"""

import argparse
import html
import json
import os
import sys
from collections import defaultdict

# The reference of each host: (host, reference) pairs for the ratio column.
REFERENCE = {
    "cohost-jit": "wasmtime",
    "cohost-interp": "wasmtime-pulley",
    "cohost-jit-reuse": "wasmtime-reuse",
    "cohost-interp-reuse": "wasmtime-pulley-reuse",
}
ORDER = [
    "cohost-jit",
    "wasmtime",
    "cohost-interp",
    "wasmtime-pulley",
    "cohost-jit-reuse",
    "wasmtime-reuse",
    "cohost-interp-reuse",
    "wasmtime-pulley-reuse",
    "hyper",
]
COLOURS = {
    "cohost": "#2b6cb0",
    "wasmtime": "#a0aec0",
    "hyper": "#38a169",
}


def colour(host):
    for prefix, c in COLOURS.items():
        if host.startswith(prefix):
            return c
    return "#718096"


def read_tsv(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            row = dict(zip(header, cells))
            try:
                row["value"] = float(row["value"])
            except (KeyError, ValueError):
                continue
            rows.append(row)
    return rows


def bar_chart(title, unit, bars, path):
    """bars: [(label, value, colour)] -> an SVG of horizontal bars."""
    if not bars:
        return False
    width, left, right, bar_h, gap, top = 720, 190, 90, 22, 8, 40
    height = top + len(bars) * (bar_h + gap) + 20
    most = max(v for _, v, _ in bars) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="24" font-size="15" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value, fill) in enumerate(bars):
        y = top + i * (bar_h + gap)
        w = (width - left - right) * value / most
        out.append(
            f'<text x="{left - 8}" y="{y + bar_h - 6}" text-anchor="end">{html.escape(label)}</text>'
        )
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{fill}"/>')
        out.append(
            f'<text x="{left + w + 6:.1f}" y="{y + bar_h - 6}">{value:,.0f} {html.escape(unit)}</text>'
        )
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return True


def ordered(hosts):
    return sorted(hosts, key=lambda h: ORDER.index(h) if h in ORDER else len(ORDER))


def ratio(values, host, key_of):
    ref = REFERENCE.get(host)
    if ref is None or key_of(ref) not in values or not values[key_of(ref)]:
        return ""
    return f"{values[key_of(host)] / values[key_of(ref)]:.2f}"


def table_rps(rows, work):
    """requests/s, p50, p99, RSS by host and concurrency."""
    sel = [r for r in rows if r["work"] == work and r["unit"] == "rps"]
    if not sel:
        return ""
    values = {(r["host"], r["concurrency"]): r["value"] for r in sel}
    hyper = {r["concurrency"]: r["value"] for r in sel if r["host"] == "hyper"}
    lines = [
        "| host | c | requests/s | ratio to reference | share of bare hyper | p50 | p99 | RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for host in ordered({r["host"] for r in sel}):
        for r in sorted(
            (r for r in sel if r["host"] == host), key=lambda r: int(r["concurrency"])
        ):
            c = r["concurrency"]
            share = f"{r['value'] / hyper[c]:.0%}" if c in hyper and host != "hyper" else ""
            rss = f"{int(r['rss_kib']) / 1024:.1f}" if r.get("rss_kib") else ""
            lines.append(
                f"| {host} | {c} | {r['value']:,.0f} | "
                f"{ratio(values, host, lambda h: (h, c))} | {share} | "
                f"{r.get('p50', '')} | {r.get('p99', '')} | {rss} |"
            )
    return "\n".join(lines)


def table_plain(rows, works):
    sel = [r for r in rows if r["work"] in works]
    if not sel:
        return ""
    values = {(r["work"], r["host"]): r["value"] for r in sel}
    lines = ["| work | host | value | ratio to reference |", "|---|---|---|---|"]
    for work in works:
        for host in ordered({r["host"] for r in sel if r["work"] == work}):
            r = values[(work, host)]
            unit = next(x["unit"] for x in sel if x["work"] == work and x["host"] == host)
            shown = f"{r:,.3f}" if unit == "s" else f"{r:,.0f}"
            lines.append(
                f"| {work} | {host} | {shown} {unit} | {ratio(values, host, lambda h: (work, h))} |"
            )
    return "\n".join(lines)


def criterion_estimates(root):
    """{(group, bench): median ns} from criterion's output directory."""
    found = {}
    if not os.path.isdir(root):
        return found
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir) or group == "report":
            continue
        for bench in sorted(os.listdir(gdir)):
            est = os.path.join(gdir, bench, "new", "estimates.json")
            if os.path.isfile(est):
                with open(est) as f:
                    found[(group, bench)] = json.load(f)["median"]["point_estimate"]
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a benches/load.sh output directory")
    ap.add_argument("--out", default="docs")
    ap.add_argument("--criterion", default="target/criterion")
    args = ap.parse_args()
    rows = read_tsv(os.path.join(args.run, "results.tsv"))
    charts = os.path.join(args.out, "charts")
    os.makedirs(charts, exist_ok=True)

    made = []
    for work, c in [("hello", "16"), ("py", "16"), ("js", "16")]:
        sel = {r["host"]: r["value"] for r in rows if r["work"] == work and r["concurrency"] == c and r["unit"] == "rps"}
        bars = [(h, sel[h], colour(h)) for h in ordered(sel)]
        name = f"{work}-c{c}.svg"
        if bar_chart(f"{work}: requests/s at c={c} (higher is better)", "rps", bars, os.path.join(charts, name)):
            made.append(name)
    for work in ["stream-256MiB", "echo-64MiB"]:
        sel = {r["host"]: r["value"] for r in rows if r["work"] == work}
        bars = [(h, sel[h], colour(h)) for h in ordered(sel)]
        name = f"{work}.svg"
        if bar_chart(f"{work}: MB/s (higher is better)", "MB/s", bars, os.path.join(charts, name)):
            made.append(name)
    est = criterion_estimates(args.criterion)
    by_group = defaultdict(list)
    for (group, bench), ns in est.items():
        by_group[group].append((bench, ns))
    for group, benches in by_group.items():
        bars = [(b, ns / 1000.0, colour(b)) for b, ns in benches]
        name = f"criterion-{group}.svg"
        if bar_chart(f"criterion {group}: median µs per iteration (lower is better)", "µs", bars, os.path.join(charts, name)):
            made.append(name)

    print("## hello (requests/s)\n")
    print(table_rps(rows, "hello"))
    for work in ["py", "js"]:
        t = table_rps(rows, work)
        if t:
            print(f"\n## {work} (requests/s)\n")
            print(t)
    t = table_plain(rows, ["stream-256MiB", "echo-64MiB", "js-first-start", "js-second-start", "rss-after-10k", "rss-after-100k"])
    if t:
        print("\n## bodies, starts, memory\n")
        print(t)
    if est:
        print("\n## criterion (median per iteration)\n")
        print("| group | bench | µs |\n|---|---|---|")
        for (group, bench), ns in sorted(est.items()):
            print(f"| {group} | {bench} | {ns / 1000.0:,.1f} |")
    print("\ncharts: " + ", ".join(made), file=sys.stderr)


if __name__ == "__main__":
    main()
