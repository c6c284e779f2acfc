"""The markdown tables of docs/reliability.md's soak section, from one run
of benches/soak.sh:  python3 benches/soak/report.py OUT_DIR"""

import csv
import sys
from collections import defaultdict

out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/soak.tsv"), delimiter="\t"))
samples = list(csv.DictReader(open(f"{out}/samples.tsv"), delimiter="\t"))
engines = list(dict.fromkeys(r["engine"] for r in rows))
value = defaultdict(dict)
for r in rows:
    value[r["engine"]][(r["what"], r["kind"])] = r["value"]

routes = ["hello", "echo", "stream", "sleep", "trap", "loop", "bomb"]
print("| route | " + " | ".join(engines) + " |")
print("|---|" + "---:|" * len(engines))
for route in routes:
    cells = []
    for e in engines:
        v = value[e]
        statuses = ", ".join(
            f"{v[k]} × {k[1][len('status-'):]}"
            for k in sorted(v)
            if k[0] == route and k[1].startswith("status-")
        )
        errors = sum(int(v[k]) for k in v if k[0] == route and k[1].startswith("socket-"))
        cells.append(statuses + (f", {errors} cut" if errors else ""))
    print(f"| {route} | " + " | ".join(cells) + " |")
kinds = ["half_head", "stream_dropped", "short_upload", "closed_at_once", "sleep_abandoned"]
cells = [str(sum(int(value[e].get(("vanish", k), 0)) for k in kinds)) for e in engines]
print("| vanishing clients | " + " | ".join(cells) + " |")
print()
print("| | " + " | ".join(engines) + " |")
print("|---|" + "---:|" * len(engines))
for label, key in [
    ("log: traps (`unreachable`)", ("log", "trap-unreachable")),
    ("log: time budget", ("log", "trap-time-budget")),
    ("log: any other warning or error", ("log", "other-warn-or-error")),
    ("open fds at start / end", None),
    ("RSS at start / end (MiB)", None),
    ("RSS in the soak, min–max (MiB)", None),
    ("last GET after the soak", ("last-get", "status")),
]:
    cells = []
    for e in engines:
        v = value[e]
        if key:
            cells.append(v.get(key, "?"))
        elif label.startswith("open fds"):
            cells.append(f"{v[('start', 'fds')]} / {v[('end', 'fds')]}")
        elif label.startswith("RSS at"):
            cells.append(
                f"{int(v[('start', 'rss_kib')]) / 1024:.0f} / {int(v[('end', 'rss_kib')]) / 1024:.0f}"
            )
        else:
            mid = [int(s["rss_kib"]) / 1024 for s in samples if s["engine"] == e][1:-1]
            cells.append(f"{min(mid):.0f}–{max(mid):.0f}" if mid else "?")
    print(f"| {label} | " + " | ".join(cells) + " |")
