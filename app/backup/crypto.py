"""Optional encryption of backup files: AES-256-GCM in 1 MiB chunks.

Chunked so a large dump never sits in memory. Each chunk has its own nonce (random prefix +
counter) and its index plus a last-chunk flag as associated data, so reordering, dropping
or truncating chunks fails authentication instead of restoring a damaged dump.
File layout: MAGIC, 8-byte nonce prefix, then per chunk: 4-byte length, ciphertext+tag.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.settings import ENV_PREFIX, Settings

MAGIC = b"NOXBAK1\n"
CHUNK = 1024 * 1024


class BackupKeyError(ValueError):
    pass


def load_key(settings: Settings) -> bytes | None:
    """The key from NOX_BACKUP_KEY or NOX_BACKUP_KEY_FILE; None when backups are plain."""
    raw = settings.backup_key.get_secret_value().strip()
    if not raw and settings.backup_key_file is not None:
        raw = settings.backup_key_file.read_text().strip()
    if not raw:
        return None
    try:
        key = base64.urlsafe_b64decode(raw.encode())
    except ValueError as exc:
        raise BackupKeyError(f"{ENV_PREFIX}BACKUP_KEY is not urlsafe base64") from exc
    if len(key) != 32:
        raise BackupKeyError(f"{ENV_PREFIX}BACKUP_KEY must decode to 32 bytes, not {len(key)}")
    return key


def _aad(index: int, last: bool) -> bytes:
    return struct.pack(">Q?", index, last)


def encrypt_file(key: bytes, source: Path, target: Path) -> None:
    aead, prefix = AESGCM(key), os.urandom(8)
    with source.open("rb") as src, target.open("wb") as out:
        out.write(MAGIC + prefix)
        index, chunk = 0, src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            last = not following
            nonce = prefix + struct.pack(">I", index)
            sealed = aead.encrypt(nonce, chunk, _aad(index, last))
            out.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return
            index, chunk = index + 1, following


def decrypt_file(key: bytes, source: Path, target: Path) -> None:
    aead = AESGCM(key)
    with source.open("rb") as src, target.open("wb") as out:
        if src.read(len(MAGIC)) != MAGIC:
            raise BackupKeyError(f"{source.name} is not an encrypted Nox backup file")
        prefix, index = src.read(8), 0
        header = src.read(4)
        while header:
            sealed = src.read(struct.unpack(">I", header)[0])
            header = src.read(4)
            nonce = prefix + struct.pack(">I", index)
            out.write(aead.decrypt(nonce, sealed, _aad(index, not header)))
            index += 1
        if index == 0:
            raise BackupKeyError(f"{source.name} is truncated")


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC
