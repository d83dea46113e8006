"""Print bench/results.json (written by each benchmark's run) as one table: figure, target, ratio to its raw
baseline where it has one, database, date and the command that made it."""

from __future__ import annotations

import json

from bench.common import RESULTS


def main() -> None:
    if not RESULTS.exists():
        print("no results yet: run the benchmarks first (make bench)")
        return
    results = json.loads(RESULTS.read_text())
    rows = [("figure", "value", "target", "ratio", "database", "date", "command")]
    for name, r in sorted(results.items()):
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        rows.append(
            (
                name,
                f"{r['figure']:,.1f} {r['unit']}",
                r["target"],
                ratio,
                r["database"],
                r["date"],
                r["command"],
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
