"""Reading the log collector's files (monitoring/logs/syslog-ng.conf files each line, one JSON
object, under <service>/<level>/<day>.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path


def filed_lines(directory: Path, request_id: str) -> list[dict[str, str]]:
    """Every filed line that mentions ``request_id``, with ``_path``: where it was filed,
    relative to ``directory``."""
    found = []
    for path in sorted(directory.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            if request_id in line:
                entry = json.loads(line)
                entry["_path"] = str(path.relative_to(directory))
                found.append(entry)
    return found
