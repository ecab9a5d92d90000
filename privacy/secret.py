"""The deployment's secret for keyed hashes and subject ids.

``SIGNALFOLD_PII_HASH_KEY``; unset, a random key is made once in
``<data_dir>/pii-hash.key`` (mode 0600) and reused by every process on that data
dir. Processes on other machines need the setting: a replica or stage with
another secret hashes and names subjects differently (its audit queries miss
other replicas' rows, and it cannot open what the others sealed).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from signalfold.errors import ConfigError
from signalfold.settings import Settings

__all__ = ["KEY_FILE", "pii_hash_key"]

KEY_FILE = "pii-hash.key"
log = logging.getLogger(__name__)


def pii_hash_key(settings: Settings) -> bytes:
    """The deployment's secret: the setting, else the data dir's key file (made if missing)."""
    if settings.pii_hash_key is not None:
        return settings.pii_hash_key.get_secret_value().encode()
    return _key_file(settings.data_dir / KEY_FILE)


def _key_file(path: Path) -> bytes:
    """Read ``path``, or make it with a random key; safe when replicas start together."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(scratch, path)  # fails if another process made it first: theirs wins
            log.warning(
                "PII hash key: made %s; replicas that do not share this data dir need the "
                "same SIGNALFOLD_PII_HASH_KEY",
                path,
            )
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"PII hash key file `{path}`: expected mode 0600, found {mode:04o}; "
            f"run `chmod 600 {path}`"
        )
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise ConfigError(f"PII hash key file `{path}`: empty; delete it to make a new key")
    return key.encode()
