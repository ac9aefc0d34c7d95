"""What was deployed where and when, as seen from one machine: an append-only JSON-lines log.

Each line is one attempt: ``{"time", "env", "target", "image", "digest", "status",
"action", "detail"}``. ``status`` is ``deployed`` only for a rollout that passed its smoke
test. It is a log for people (`scripts/deploy.sh history`): nothing reads it to decide.
`rollback` reads the release record on the target itself (deploy/rollout.py), because this
file exists only where the deploy ran (not on a fresh CI runner).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEPLOYED = "deployed"
FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    env: str
    target: str
    image: str
    digest: str
    status: str
    action: str = "deploy"
    detail: str = ""
    time: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def history_path(state_dir: Path) -> Path:
    return state_dir / "history.jsonl"


def record(state_dir: Path, entry: Entry) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(entry), sort_keys=True)
    # one write of one line in append mode: concurrent writers never interleave a line
    with history_path(state_dir).open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def load(state_dir: Path, *, env: str, target: str) -> list[Entry]:
    path = history_path(state_dir)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = Entry(**json.loads(line))
            if entry.env == env and entry.target == target:
                entries.append(entry)
    return entries
