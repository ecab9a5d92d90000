#!/usr/bin/env python3
"""An example marketing bot: check a send list before a campaign, print who it skips and why.

    examples/marketing_bot.py examples/send_list.csv       # after `make run`, from the repo
    examples/marketing_bot.py send_list.csv --url http://127.0.0.1:8080 --key sf_...
    examples/marketing_bot.py send_list.csv --local        # no network hop: reads Kafka

``send_list.csv`` has one recipient per line: an email, a phone (``+44...``),
or ``type:value`` (``crm_contact_id:003A``); lines starting with ``#`` are
comments. The shipped list names people of the demo data ``make run`` feeds.
Optional ``--product``/``--category`` say what the campaign promotes, so
product-specific holds (a defective return) apply. If signalfold cannot be
reached, the client fails closed: marketing is skipped for everyone, and the
bot says so.

Run with any ``python3``: when signalfold is not importable there, the bot
starts again with the project's ``.venv`` (which ``make run`` creates).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def _use_project_venv() -> None:
    """Re-run this script with the repo's ``.venv`` Python if signalfold is not importable."""
    try:
        import signalfold.schemas  # noqa: F401
    except ImportError:
        venv = Path(__file__).resolve().parents[1] / ".venv"
        python = venv / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != venv.resolve():
            os.execv(python, [str(python), __file__, *sys.argv[1:]])
        sys.exit(
            "signalfold is not installed for this Python and the project has no .venv yet: "
            "run `make install` (or `make run`) in the repo first, then run this again"
        )


_use_project_venv()

from signalfold.schemas import SuppressionDecision  # noqa: E402  (after the venv check)


def recipients(path: Path) -> list[dict[str, str]]:
    """One check per non-empty line, with the identifier in the field it belongs to."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        if "@" in value:
            out.append({"email": value})
        elif value.startswith("+") or value[:1].isdigit():
            out.append({"phone": value})
        elif ":" in value:
            id_type, id_value = value.split(":", 1)
            out.append({"type": id_type, "value": id_value})
        else:
            out.append({"customer_id": value})
    return out


def report(people: list[dict[str, str]], decisions: list[SuppressionDecision]) -> int:
    """Print the skipped recipients with their reasons; return how many may be sent to."""
    send = 0
    for person, decision in zip(people, decisions, strict=True):
        who = next(iter(person.values())) if len(person) == 1 else ":".join(person.values())
        if decision.allowed:
            send += 1
            continue
        until = f" until {decision.until:%Y-%m-%d %H:%M} UTC" if decision.until else ""
        print(f"skip {who}: {decision.outcome}{until}")
        for reason in decision.reasons:
            print(f"    - [{reason.department}/{reason.rule}] {reason.text}")
            print(f"      from {reason.source} event {reason.source_event_id or '?'}")
    print(f"{send} of {len(people)} recipients may receive this campaign", file=sys.stderr)
    return send


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("send_list", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", default=None, help="a marketing_bot API key")
    parser.add_argument("--channel", default="email")
    parser.add_argument("--product", default=None)
    parser.add_argument("--category", default=None)
    parser.add_argument("--local", action="store_true", help="decide in-process from Kafka")
    args = parser.parse_args(argv)

    people = recipients(args.send_list)
    extra: dict[str, Any] = {"channel": args.channel, "purpose": "marketing"}
    if args.product:
        extra["product_id"] = args.product
    if args.category:
        extra["category"] = args.category
    if args.local:
        from signalfold.settings import Settings
        from signalfold.sinks.local import LocalDecisions

        with LocalDecisions(Settings()) as local:
            local.wait_caught_up(60)
            decisions = [local.check(**person, **extra) for person in people]
    else:
        from signalfold.sinks.client import SignalfoldClient

        with SignalfoldClient(args.url, api_key=args.key) as client:
            decisions = client.check_many([{**person, **extra} for person in people])
    report(people, decisions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
