"""What resolving a signal produces: the ``Resolution`` and its deterministic changes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signalfold.schemas.identity import IdentityChange, IndexEntry, LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = ["ChangeBuilder", "Resolution", "customer_id_for", "exact_evidence"]


def customer_id_for(record_id: str, key: bytes | None = None) -> str:
    """The id of the customer a record creates: stable across replays and machines.

    With ``key`` (the deployment's secret, as every process has it) the id is a
    keyed hash of the record id: no one without the secret can tell from a
    customer id, which outlives an erasure in message keys and the erasure audit,
    whose record (an email used as a key) it was. Without one, a plain SHA-256
    (for library use and tests).
    """
    if key:
        message = b"customer-id\0" + record_id.encode()
        return "cus_" + hmac.new(key, message, hashlib.sha256).hexdigest()[:20]
    return "cus_" + hashlib.sha256(record_id.encode()).hexdigest()[:20]


def exact_evidence(key: str) -> LinkEvidence:
    """Evidence for a join on one identifier key: rule ``exact:<type>``."""
    identifier_type, _, value = key.partition(":")
    return LinkEvidence(
        rule=f"exact:{identifier_type}", identifier_type=identifier_type, identifier_value=value
    )


@dataclass(frozen=True)
class Resolution:
    """What resolving one signal decided, ready to publish.

    ``changes`` go to ``identity.changes`` in order; ``index`` to
    ``identity.index`` (every identifier key whose customer changed, and
    ``customer:<absorbed>`` aliases); ``merges`` are (absorbed, survivor) pairs;
    ``rejected`` holds (identifier type, reason) for identifiers dropped from
    matching — never their values; ``rebuild`` names each customer a split changed
    (its records and merged ids), whose state must start over from its records' signals.
    """

    customer_id: str
    record_id: str
    changes: list[IdentityChange]
    index: list[IndexEntry]
    merges: list[tuple[str, str]]
    rejected: list[tuple[str, str]]
    rebuild: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)


class ChangeBuilder:
    """Builds one signal's changes in publishing order, with deterministic ids.

    ``change_id`` hashes signal id, kind, customer, record and the change's
    subject (keys, absorbed ids, other record), so re-processing a signal after a
    crash publishes the same ids and consumers can drop the duplicates. ``at`` is
    processing time from the injected clock.
    Operator commands build theirs with ``for_command``: the command id takes
    the signal id's place and each change names its own record.
    """

    def __init__(self, signal: Signal | None, at: datetime, origin_id: str = "") -> None:
        self.origin_id = signal.signal_id if signal is not None else origin_id
        self.record_id = signal.record_id if signal is not None else ""
        self.at = at
        self.items: list[IdentityChange] = []

    @classmethod
    def for_command(cls, command_id: str, at: datetime) -> ChangeBuilder:
        """A builder for the changes of operator command ``command_id``."""
        return cls(None, at, origin_id=command_id)

    def add(
        self,
        kind: str,
        customer_id: str,
        identifiers: list[str] | tuple[str, ...],
        evidence: tuple[LinkEvidence, ...],
        *,
        record_id: str | None = None,
        change_id: str | None = None,
        **extra: Any,
    ) -> IdentityChange:
        """Append a change of ``kind``; ``extra`` sets the optional ``IdentityChange`` fields.

        ``change_id`` overrides the derived id (refusals and relationships use one that
        does not depend on the signal that found them).
        """
        rid = record_id or self.record_id
        subject = [*identifiers, *extra.get("absorbed_ids", ()), extra.get("other_record_id") or ""]
        subject += [*extra.get("records", ()), *([extra["pin"]] if extra.get("pin") else [])]
        raw = "\x1f".join([self.origin_id, kind, customer_id, rid, *subject])
        self.items.append(
            IdentityChange(
                change_id=change_id or "chg_" + hashlib.sha256(raw.encode()).hexdigest()[:24],
                kind=kind,
                customer_id=customer_id,
                record_id=rid,
                identifiers=tuple(identifiers),
                evidence=evidence,
                signal_id=self.origin_id,
                at=self.at,
                **extra,
            )
        )
        return self.items[-1]
