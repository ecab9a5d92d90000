"""``signalfold erase``: forget a person everywhere signalfold owns (admin key).

The command asks a serving replica (``--url``, default the local API) with an
admin key (``--key-file``, scope ``privacy:erase``): ``POST
/v1/customers/{id}/erase`` for a customer id, ``POST /v1/erasures`` for an
identifier (whoever holds it is erased; the identifier is held for marketing
in any case, customer or not). With ``--wait`` it then polls ``GET
/v1/erasures/{request_id}`` until the replica has applied it. It prints the
request id; ``--json`` prints the API's answer.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from signalfold.commands._api import api_client, api_url, identifier, refused
from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

__all__ = ["register"]


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    url = api_url(args, settings)
    with api_client(args, settings) as http:
        try:
            if args.customer_id is not None:
                answer = http.post(
                    f"/v1/customers/{args.customer_id}/erase",
                    json={"reason": args.reason},
                    follow_redirects=False,
                )
                if answer.status_code == 308:  # merged: erase the customer it is now
                    answer = http.post(answer.headers["location"], json={"reason": args.reason})
            else:
                kind, value = identifier(args, "erase")
                body = {"identifiers": [{"type": kind, "value": value}], "reason": args.reason}
                answer = http.post("/v1/erasures", json=body)
            if answer.status_code != 202:
                raise refused("erase", "the API refused", answer)
            accepted = answer.json()
            if args.wait:
                accepted["status"] = _wait(http, accepted["request_id"], args.wait)
        except httpx.TransportError as exc:
            raise SignalfoldError(
                f"erase: cannot reach the API at {url} ({type(exc).__name__}); start it "
                "(`signalfold serve`) or pass --url"
            ) from None
    who = accepted["customer_id"] or "no customer (identifier held for marketing)"
    text = f"erase: request {accepted['request_id']} accepted for {who}"
    if args.wait:
        text += f"; {accepted['status']} on this replica"
    emit(args, accepted, [text])
    return 0 if not args.wait or accepted["status"] == "applied" else 1


def _wait(http: Any, request_id: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        status = http.get(f"/v1/erasures/{request_id}")
        if status.status_code != 200:
            raise refused("erase", "the status refused", status)
        if status.json()["status"] == "applied" or time.monotonic() > deadline:
            return str(status.json()["status"])
        time.sleep(0.2)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "erase",
        "erase a person from every topic and store signalfold owns (admin key)",
        "signalfold erase --email jane@example.com --reason 'GDPR art. 17, ticket 4411' "
        "--key-file admin.key --wait 30",
        "signalfold erase --customer-id cus_0123456789abcdef0123 --reason 'request 4411'",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email")
    who.add_argument("--phone", help="the person's phone number")
    who.add_argument("--customer-id", help="the customer id signalfold gave them")
    who.add_argument("--type", help="an identifier type a source declares (with --value)")
    p.add_argument("--value", help="the identifier's value (with --type)")
    p.add_argument("--reason", required=True, help="why (kept with the request, for the audit)")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait until applied")
    p.add_argument("--url", help="the serving API (default: SIGNALFOLD_API_HOST:API_PORT)")
    p.add_argument("--key-file", help="a file holding an admin API key (scope privacy:erase)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    add_json_flag(p)
    p.set_defaults(func=_erase)
