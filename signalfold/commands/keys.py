"""``signalfold keys``: make, hash and check scoped API keys (see ``sinks/auth.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from signalfold.settings import Settings

__all__ = ["register"]


def _entry(name: str, role: str, digest: str) -> str:
    return f"  - name: {name}\n    role: {role}\n    hash: {digest}\n"


def _new(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.sinks.auth import hash_key, new_key

    key = new_key()
    print(f"key (shown once; give it to the caller, keep it out of files): {key}")
    print("entry for the key file (SIGNALFOLD_API_KEYS_FILE):")
    print(_entry(args.name, args.role, hash_key(key)), end="")
    return 0


def _hash(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.sinks.auth import hash_key

    key = sys.stdin.readline().strip()
    if not key:
        print("signalfold keys hash: give the key on standard input", file=sys.stderr)
        return 2
    print(hash_key(key))
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.sinks.auth import load_key_file

    path = Path(args.file) if args.file else settings.api_keys_file
    if path is None:
        print("signalfold keys check: give a file or set SIGNALFOLD_API_KEYS_FILE", file=sys.stderr)
        return 2
    load_key_file(path)  # raises ConfigError naming the entry at fault
    print(f"{path}: ok")
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="make, hash and check scoped API keys")
    group = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    p = group.add_parser("new", help="make a random key; print it and its key-file entry")
    p.add_argument("--name", required=True, help="who holds it (the surface in decision logs)")
    p.add_argument("--role", required=True, choices=["marketing_bot", "support_tool", "admin"])
    p.set_defaults(func=_new)

    p = group.add_parser("hash", help="hash a key read from standard input")
    p.set_defaults(func=_hash)

    p = group.add_parser("check", help="validate a key file")
    p.add_argument("file", nargs="?", help="default: SIGNALFOLD_API_KEYS_FILE")
    p.set_defaults(func=_check)
