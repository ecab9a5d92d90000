"""Explanations: the records a customer holds and the evidence of every link.

Two sources give the same shape (``CustomerIdentity``):

- ``from_graph``: a live ``IdentityGraph`` (the CLI rebuilds one from
  ``identity.changes``), exact because the graph applied the log in order;
- ``from_changes``: the changes a serving replica stored, which it may hold in
  a slightly different order (they are sorted by time); the answer only uses
  set logic, so the order does not matter: records joined through created /
  linked changes of the customer's ids, plus records split into them, minus
  records split out of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from signalfold.identity.graph import IdentityGraph
from signalfold.schemas.identity import (
    CustomerIdentity,
    IdentityChange,
    RecordLink,
    Relationship,
)

__all__ = ["NOT_LINKS", "from_changes", "from_graph", "related_ids", "relationships"]

NOT_LINKS = ("first_record", "same_record", "operator:split", "pin:never")
_OPERATOR = ("pinned", "split")


def related_ids(changes: Iterable[IdentityChange]) -> set[str]:
    """Customers a split took records from: their changes explain the moved records' links."""
    return {c.from_customer_id for c in changes if c.kind == "split" and c.from_customer_id}


def relationships(
    records: set[str], changes: Iterable[IdentityChange], customer_of: Callable[[str], str | None]
) -> list[Relationship]:
    """The ``related`` changes from ``records`` to records outside them (once per pair and rule)."""
    found: dict[tuple[str, str, str], Relationship] = {}
    for change in changes:
        other = change.other_record_id
        if change.kind != "related" or change.record_id not in records or other is None:
            continue
        if other in records:
            continue  # related once, one customer now (other evidence joined them)
        rule = change.evidence[0].rule
        kind = rule.partition(":")[0]
        found.setdefault(
            (change.record_id, other, rule),
            Relationship(
                kind=kind if kind in ("household", "organisation") else "shared_identifier",
                customer_id=customer_of(other),
                record_id=change.record_id,
                other_record_id=other,
                evidence=change.evidence[0],
                change_id=change.change_id,
            ),
        )
    return list(found.values())


def from_changes(
    customer_id: str, customer_ids: Sequence[str], changes: Sequence[IdentityChange]
) -> CustomerIdentity:
    """Explain ``customer_id`` (with ``customer_ids`` merged into it) from stored changes.

    ``changes`` must hold the changes of ``customer_ids`` and of every customer
    a split took their records from (see ``related_ids``).
    """
    family = set(customer_ids)
    ordered = sorted({c.change_id: c for c in changes}.values(), key=lambda c: c.at)
    records: set[str] = set()
    for change in ordered:
        if change.kind in ("created", "linked") and change.customer_id in family:
            records.add(change.record_id)
    for change in ordered:
        if change.kind != "split":
            continue
        if change.customer_id in family:
            records |= set(change.records)
        elif change.from_customer_id in family:
            records -= set(change.records)
    first_with: dict[str, str] = {}
    creator: dict[str, str] = {}
    for change in ordered:
        if change.kind in ("created", "linked"):
            for key in change.identifiers:
                first_with.setdefault(key, change.record_id)
        if change.kind == "created":
            creator[change.customer_id] = change.record_id
    links = []
    for change in ordered:
        if change.kind not in ("linked", "merged") or change.record_id not in records:
            continue
        for evidence in change.evidence:
            if evidence.rule in NOT_LINKS:
                continue
            other: str | None
            if change.other_record_id is not None:
                other = change.other_record_id
            elif evidence.rule.startswith("exact:"):
                other = first_with.get(f"{evidence.identifier_type}:{evidence.identifier_value}")
            else:
                absorbed = change.absorbed_ids[0] if change.absorbed_ids else change.customer_id
                other = change.other_record_id or creator.get(absorbed)
            if other == change.record_id or (other is not None and other not in records):
                continue
            links.append(
                RecordLink(
                    record_id=change.record_id,
                    other_record_id=other,
                    evidence=evidence,
                    change_id=change.change_id,
                    at=change.at,
                )
            )
    mine = [
        c
        for c in ordered
        if (c.customer_id in family or c.record_id in records or c.other_record_id in records)
        and not _settled(c, records)
    ]
    return CustomerIdentity(
        customer_id=customer_id,
        customer_ids=list(customer_ids),
        records=sorted(records),
        links=links,
        refused=[c for c in mine if c.kind == "refused"],
        operator=[c for c in mine if c.kind in _OPERATOR],
        changes=mine,
        relationships=relationships(records, ordered, lambda record: None),
    )


def _settled(change: IdentityChange, records: set[str]) -> bool:
    """A possible match whose two records are one customer now: superseded, not shown."""
    return change.kind == "possible_match" and {change.record_id, change.other_record_id} <= records


def from_graph(graph: IdentityGraph, customer_id: str) -> CustomerIdentity:
    """Explain a customer from a live graph (exact, in log order)."""
    cid = graph.canonical_id(customer_id)
    history = graph.explain(cid)
    links = [
        RecordLink(
            record_id=link.a,
            other_record_id=link.b,
            evidence=link.evidence,
            change_id=link.change_id,
            at=link.at,
        )
        for link in graph.links(cid)
    ]
    ids = [cid, *graph.aliases_of(cid)]
    return CustomerIdentity(
        customer_id=cid,
        customer_ids=ids,
        records=graph.records_of(cid),
        links=links,
        refused=[c for c in history if c.kind == "refused"],
        operator=[c for c in history if c.kind in _OPERATOR],
        changes=history,
        relationships=relationships(set(graph.records_of(cid)), history, graph.customer_of_record),
    )
