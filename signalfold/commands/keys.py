"""``signalfold keys``: make, hash and check scoped API keys (see ``sinks/auth.py``)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.settings import Settings

__all__ = ["register"]


def _document(name: str, role: str, digest: str) -> str:
    """A complete key file holding one entry; its last three lines are the entry itself."""
    return (
        "# signalfold API key file (SIGNALFOLD_API_KEYS_FILE). To add this key to an\n"
        "# existing file, append the three lines after `keys:` to that file's `keys:` list.\n"
        "keys:\n"
        f"  - name: {name}\n    role: {role}\n    hash: {digest}\n"
    )


def _new(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.sinks.auth import hash_key, new_key

    key = new_key()
    # The key goes to stderr: `signalfold keys new … > keys.yaml` writes a valid key
    # file that holds only the key's hash.
    print(f"key (shown once; give it to the caller, keep it out of files): {key}", file=sys.stderr)
    print(_document(args.name, args.role, hash_key(key)), end="")
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
    import yaml

    load_key_file(path)  # raises ConfigError naming the entry at fault
    keys = yaml.safe_load(path.read_text(encoding="utf-8"))["keys"]  # valid: counted as is
    roles = Counter(str(key["role"]) for key in keys)
    data = {"file": str(path), "ok": True, "keys": len(keys), "roles": dict(roles)}
    emit(args, data, [f"{path}: ok"])
    return 0


def register(sub: Any) -> None:
    keys = add_command(
        sub,
        "keys",
        "make, hash and check scoped API keys",
        "signalfold keys new --name crm-bot --role marketing_bot > keys.yaml",
        "signalfold keys check keys.yaml",
    )
    group = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    p = add_command(
        group,
        "new",
        "make a random key: the key on stderr, a key file holding its hash on stdout",
        "signalfold keys new --name crm-bot --role marketing_bot > keys.yaml",
        "signalfold keys new --name desk --role support_tool | tail -3 >> keys.yaml  # append",
    )
    p.add_argument("--name", required=True, help="who holds it (the surface in decision logs)")
    p.add_argument(
        "--role",
        required=True,
        choices=["marketing_bot", "support_tool", "admin"],
        help="scope: decisions only; also histories; also identity operations",
    )
    p.set_defaults(func=_new)

    p = add_command(
        group,
        "hash",
        "hash a key read from standard input (for a key made elsewhere)",
        "printf '%s\\n' \"$KEY\" | signalfold keys hash",
    )
    p.set_defaults(func=_hash)

    p = add_command(
        group,
        "check",
        "validate a key file",
        "signalfold keys check keys.yaml",
        "signalfold keys check keys.yaml --json",
    )
    p.add_argument("file", nargs="?", help="the key file (default: SIGNALFOLD_API_KEYS_FILE)")
    add_json_flag(p)
    p.set_defaults(func=_check)
