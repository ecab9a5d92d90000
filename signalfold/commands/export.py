"""``signalfold export``: a subject access export, everything signalfold holds about a person.

The command asks a serving replica (``--url``, default the local API) with an
admin key (``--key-file``: a file holding the key, so it is not in ``ps``):
``GET /v1/customers/lookup`` when given an identifier, then
``GET /v1/customers/{id}/export``. A person who is no customer may still have
been asked about: the document then holds the decision-log rows that named
the identifier (``GET /v1/decisions/log``), ``customer_id`` ``null``. The
document (``SubjectAccessExport``) goes to stdout, or to ``--output`` with
mode 0600; what it does not cover is listed in its ``coverage``.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import Any

from signalfold.commands._api import api_client, api_url, identifier, refused
from signalfold.commands._help import add_command
from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

__all__ = ["register"]


def _document(args: argparse.Namespace, settings: Settings) -> bytes:
    import httpx

    from signalfold.schemas.subject_access import SubjectAccessExport
    from signalfold.sinks.routes_privacy import coverage

    url = api_url(args, settings)
    with api_client(args, settings) as http:
        try:
            customer_id = args.customer_id
            if customer_id is None:
                kind, value = identifier(args, "export")
                given = (
                    {kind: value} if kind in ("email", "phone") else {"type": kind, "value": value}
                )
                found = http.get("/v1/customers/lookup", params=given)
                if found.status_code == 404:  # no customer: only questions asked about them
                    log = http.get("/v1/decisions/log", params={**given, "limit": 1000})
                    if log.status_code != 200:
                        raise refused("export", "the decision log refused", log)
                    rows = log.json()["items"]
                    return (
                        SubjectAccessExport(
                            exported_at=datetime.now(UTC),
                            customer_id=None,
                            customer_ids=[],
                            identifiers=[],
                            state=None,
                            history=[],
                            identity=None,
                            decisions=rows,
                            coverage=coverage(customer=False, decisions_capped=len(rows) >= 1000),
                        )
                        .model_dump_json(indent=2)
                        .encode()
                    )
                if found.status_code != 200:
                    raise refused("export", "the lookup refused", found)
                customer_id = found.json()["customer_id"]
            response = http.get(f"/v1/customers/{customer_id}/export", follow_redirects=True)
        except httpx.TransportError as exc:
            raise SignalfoldError(
                f"export: cannot reach the API at {url} ({type(exc).__name__}); start it "
                "(`signalfold serve`) or pass --url"
            ) from None
    if response.status_code != 200:
        raise refused("export", "the export refused", response)
    return response.content


def _export(args: argparse.Namespace, settings: Settings) -> int:
    document = _document(args, settings)
    if args.output is None:
        sys.stdout.write(document.decode() + "\n")
        return 0
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(document)
    print(f"export: wrote {len(document)} bytes to {args.output} (mode 0600)", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "export",
        "everything signalfold holds about one person, as one JSON document (admin key)",
        "signalfold export --email jane@example.com --key-file admin.key > jane.json",
        "signalfold export --customer-id cus_0123456789abcdef0123 --output jane.json",
        "signalfold export --type crm_contact_id --value 003A --url http://serve:8080",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email")
    who.add_argument("--phone", help="the person's phone number")
    who.add_argument("--customer-id", help="the customer id signalfold gave them")
    who.add_argument("--type", help="an identifier type a source declares (with --value)")
    p.add_argument("--value", help="the identifier's value (with --type)")
    p.add_argument("--url", help="the serving API (default: SIGNALFOLD_API_HOST:API_PORT)")
    p.add_argument("--key-file", help="a file holding an admin API key (scope privacy:export)")
    p.add_argument("--output", help="write the document here (mode 0600) instead of stdout")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.set_defaults(func=_export)
