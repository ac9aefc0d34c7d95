"""The per-phase timing table `.ci/run` prints at the end.

Reads the phase log (`scripts/phase.sh` appends `name<TAB>seconds<TAB>status` per phase) and
the per-tier figures of the pytest run (`tests/tier_timings.py`). Tiers run interleaved on the
xdist workers, so each shows its span (first test start to last test end) and its busy time
(summed test durations, setup and teardown included).

    python scripts/ci_timings.py build/timings/phases.tsv build/timings/tiers.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def phase_lines(text: str) -> list[str]:
    lines = []
    for row in text.splitlines():
        name, seconds, status = row.split("\t")
        outcome = "" if status == "0" else f"  (exit {status})"
        lines.append(f"  {name:<22} {float(seconds):7.1f} s{outcome}")
    return lines


def tier_lines(tiers: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for name, t in sorted(tiers.items(), key=lambda item: -item[1]["busy_s"]):
        lines.append(
            f"  tier {name:<17} {t['span_s']:7.1f} s span, {t['busy_s']:7.1f} s busy,"
            f" {int(t['tests'])} tests"
        )
    return lines


def main(argv: list[str]) -> int:
    phases, tiers = Path(argv[1]), Path(argv[2])
    print("ci: per-phase timings (wall clock)")
    if phases.exists():
        print("\n".join(phase_lines(phases.read_text())))
    if tiers.exists():
        print("\n".join(tier_lines(json.loads(tiers.read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
