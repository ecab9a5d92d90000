"""Operator commands on the identity graph: split a customer, pin two records.

- ``split`` moves ``records`` out of ``customer_id`` into a new customer whose
  id is derived from the command id and the records, so a re-delivered command
  names the same customer. The records' identifiers held by no remaining record
  move with them (index entries re-point); identifiers both sides hold stay with
  the old customer, and a split barrier keeps the two apart from then on.
  Refused when it would separate records pinned ``always``.
- ``pin never a b``: a barrier between the two records. If they are one
  customer now, ``b`` and whatever is pinned ``always`` to it split off.
- ``pin always a b``: if they are two customers, they merge now (the older id
  survives; merge protection limits do not apply to an operator's word), lifting
  split barriers between them; refused across a ``never`` pin.

Every command leaves at least one change whose ``signal_id`` is the command id
(a ``refused`` change with the reason when it did nothing), so the operator sees
an answer on ``identity.changes``. ``CommandOutcome.rebuild`` names every
customer whose state must be recomputed from its own records' signals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

from signalfold.identity._state import Customer, GraphState
from signalfold.identity.resolution import ChangeBuilder
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry, LinkEvidence

__all__ = ["REFUSALS", "CommandOutcome", "plan_command", "split_customer_id"]

REFUSALS: dict[str, str] = {
    "split:unknown_customer": "no live customer has this id; look it up again (it may be merged)",
    "split:not_member": "some records do not belong to this customer; list its records first",
    "split:everything": "a split must leave at least one record behind",
    "split:pinned_always": "it would separate records pinned always; split them together",
    "pin:two_records": "a pin names exactly two different records",
    "pin:unknown_record": "a pinned record has never been seen; check the record ids",
    "pin:conflict": "it contradicts an earlier pin between these customers",
}


def split_customer_id(command_id: str, records: tuple[str, ...] | list[str]) -> str:
    """The id of the customer a split creates: the same for the same command, on any machine."""
    raw = "\x1f".join(["split", command_id, *sorted(records)])
    return "cus_" + hashlib.sha256(raw.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CommandOutcome:
    """What a command decided: changes to publish and the customers to rebuild.

    ``rebuild`` maps each customer whose state must start over to the records
    it holds and the ids merged into it; ``merges`` are (absorbed, survivor).
    """

    command_id: str
    changes: list[IdentityChange]
    index: list[IndexEntry] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)
    rebuild: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    refused: str | None = None

    def finish(self, state: GraphState, index: list[IndexEntry]) -> CommandOutcome:
        """Fill in ``index`` and ``rebuild`` from the state after the changes were applied."""
        rebuild = {}
        for customer_id in dict.fromkeys(state.commands.get(self.command_id, ())):
            customer = state.customers.get(customer_id)
            if customer is not None:
                rebuild[customer_id] = (
                    tuple(sorted(customer.records)),
                    tuple(state.aliases_of(customer_id)),
                )
        return replace(self, index=index, rebuild=rebuild if not self.merges else {})


def plan_command(state: GraphState, command: IdentityCommand, at: datetime) -> CommandOutcome:
    """The changes ``command`` makes to ``state`` (not applied yet)."""
    cid = command.command_id
    if cid in state.commands:  # delivered again: re-announce what it produced, change nothing
        return CommandOutcome(cid, [])
    changes = ChangeBuilder.for_command(cid, at)
    if command.kind == "split":
        refused = _split(state, command, changes)
        merges: list[tuple[str, str]] = []
    else:
        refused, merges = _pin(state, command, changes)
    if refused is not None:
        customer = state.customer_of(command.records[0])
        target = command.customer_id or (customer.customer_id if customer else "")
        reason = LinkEvidence(rule=refused)
        changes.add("refused", target, (), (reason,), record_id=command.records[0])
    return CommandOutcome(cid, changes.items, merges=merges, refused=refused)


def _split(state: GraphState, command: IdentityCommand, changes: ChangeBuilder) -> str | None:
    customer = state.customers.get(state.canonical_id(command.customer_id or ""))
    if customer is None:
        return "split:unknown_customer"
    moved = set(command.records)
    if not moved <= customer.records:
        return "split:not_member"
    if moved == customer.records:
        return "split:everything"
    if state.pins.always_closure(moved, customer.records) != moved:
        return "split:pinned_always"
    _add_split(state, customer, moved, changes, LinkEvidence(rule="operator:split"))
    return None


def _add_split(
    state: GraphState,
    customer: Customer,
    moved: set[str],
    changes: ChangeBuilder,
    evidence: LinkEvidence,
) -> None:
    rest = customer.records - moved
    moved_keys = {k for r in moved for k in state.records[r].keys}
    rest_keys = {k for r in rest for k in state.records[r].keys}
    keys = sorted(k for k in moved_keys - rest_keys if state.owner.get(k) == customer.customer_id)
    changes.add(
        "split",
        split_customer_id(changes.origin_id, sorted(moved)),
        keys,
        (evidence,),
        record_id=min(moved),
        records=tuple(sorted(moved)),
        from_customer_id=customer.customer_id,
        birth=customer.birth,
    )


def _pin(
    state: GraphState, command: IdentityCommand, changes: ChangeBuilder
) -> tuple[str | None, list[tuple[str, str]]]:
    if len(command.records) != 2 or command.records[0] == command.records[1]:
        return "pin:two_records", []
    a, b = command.records
    ours, theirs = state.customer_of(a), state.customer_of(b)
    if ours is None or theirs is None:
        return "pin:unknown_record", []
    kind = command.pin or "never"
    pin = LinkEvidence(rule=f"pin:{kind}")
    if kind == "never":
        group = state.pins.always_closure({b}, ours.records) if ours is theirs else set()
        if a in group:
            return "pin:conflict", []
        changes.add(
            "pinned", ours.customer_id, (), (pin,), record_id=a, other_record_id=b, pin=kind
        )
        if group:
            _add_split(state, ours, group, changes, pin)
        return None, []
    if ours is not theirs:
        barriers = state.pins.barriers_between(ours.records, theirs.records)
        if any(barrier.kind == "pin" for barrier in barriers):
            return "pin:conflict", []
    changes.add("pinned", ours.customer_id, (), (pin,), record_id=a, other_record_id=b, pin=kind)
    if ours is theirs:
        return None, []
    survivor, absorbed = sorted((ours, theirs), key=lambda c: c.age)
    changes.add(
        "merged",
        survivor.customer_id,
        (),
        (pin,),
        record_id=a,
        other_record_id=b,
        absorbed_ids=(absorbed.customer_id,),
    )
    return None, [(absorbed.customer_id, survivor.customer_id)]
