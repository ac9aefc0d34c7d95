"""The manifest of a backup: versions, and a checksum of every file as stored.

Checksums cover the stored bytes (ciphertext when encrypted), so `nox restore` can refuse a
damaged or tampered backup before decrypting or touching any database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"


class BackupInvalid(ValueError):
    pass


@dataclass
class FileEntry:
    sha256: str
    size: int


@dataclass
class Manifest:
    name: str
    created_at: str
    nox_version: str
    postgresql_version: str
    pg_dump_version: str
    redis_version: str
    alembic_revision: str
    encrypted: bool
    files: dict[str, FileEntry] = field(default_factory=dict)
    format: int = FORMAT

    def write(self, directory: Path) -> str:
        text = json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"
        (directory / MANIFEST).write_text(text)
        return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def describe(path: Path) -> FileEntry:
    return FileEntry(sha256=sha256_file(path), size=path.stat().st_size)


def verify(directory: Path) -> Manifest:
    """The manifest once every listed file exists with its size and checksum; else raise
    naming every problem."""
    try:
        raw = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupInvalid(f"{directory}: no readable {MANIFEST}: {exc}") from exc
    if raw.get("format") != FORMAT:
        raise BackupInvalid(f"{directory}: manifest format {raw.get('format')!r} unknown")
    files = {name: FileEntry(**entry) for name, entry in raw.pop("files").items()}
    manifest = Manifest(**raw, files=files)
    problems = []
    for name, entry in files.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != entry.size:
            problems.append(f"{name}: {path.stat().st_size} bytes, manifest says {entry.size}")
        elif sha256_file(path) != entry.sha256:
            problems.append(f"{name}: sha256 mismatch")
    if "postgres.dump" not in {n.removesuffix(".enc") for n in files}:
        problems.append("no postgres.dump listed")
    if problems:
        raise BackupInvalid(f"{directory} failed verification: " + "; ".join(problems))
    return manifest
