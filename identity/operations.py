"""Operator commands on the identity graph: split a customer, pin two records.

- ``split`` moves ``records`` out of ``customer_id`` and leaves a split barrier
  between them and the rest, which keeps the two apart from then on. Like every
  cluster, each side is named after its founder (oldest record): the side
  without the customer's founder gets a new id. The moved records stay one
  customer only where their own evidence joins them (records that share
  nothing become a customer each). Identifiers follow their oldest record.
  Refused when it would separate records pinned ``always``.
- ``pin never a b``: a barrier between the two records. If they are one
  customer now, the re-clustering keeps them apart.
- ``pin always a b``: an edge stronger than any evidence: the two merge now (the
  older id survives; names and limits do not apply to an operator's word),
  lifting split barriers between them; refused across a ``never`` pin.

Every command leaves at least one change whose ``signal_id`` is the command id
(a ``refused`` change with the reason when it did nothing), so the operator sees
an answer on ``identity.changes``. ``CommandOutcome.rebuild`` names every
customer whose state must be recomputed from its own records' signals. Changes
are applied as they are decided (``Planner.emit``), then the records the
command touched are re-clustered (``Planner.recluster``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signalfold.identity._planner import Effects, Planner
from signalfold.identity._state import Customer, GraphState
from signalfold.identity.resolution import ChangeBuilder
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry, LinkEvidence

__all__ = ["REFUSALS", "CommandOutcome", "plan_command"]

REFUSALS: dict[str, str] = {
    "split:unknown_customer": "no live customer has this id; look it up again (it may be merged)",
    "split:not_member": "some records do not belong to this customer; list its records first",
    "split:everything": "a split must leave at least one record behind",
    "split:pinned_always": "it would separate records pinned always; split them together",
    "pin:two_records": "a pin names exactly two different records",
    "pin:unknown_record": "a pinned record has never been seen; check the record ids",
    "pin:conflict": "it contradicts an earlier pin between these customers",
}


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


def plan_command(
    state: GraphState,
    command: IdentityCommand,
    changes: ChangeBuilder,
    effects: Effects,
    planner: Planner,
) -> str | None:
    """Carry out ``command`` on ``state`` through ``planner``; the refusal rule, if refused."""
    if command.kind == "split":
        refused = _split(state, command, changes, effects, planner)
    else:
        refused = _pin(state, command, changes, effects, planner)
    if refused is not None:
        customer = state.customer_of(command.records[0])
        target = command.customer_id or (customer.customer_id if customer else "")
        reason = LinkEvidence(rule=refused)
        planner.emit(
            changes, effects, "refused", target, (), (reason,), record_id=command.records[0]
        )
    return refused


def _split(
    state: GraphState,
    command: IdentityCommand,
    changes: ChangeBuilder,
    effects: Effects,
    planner: Planner,
) -> str | None:
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
    _add_split(
        state, customer, moved, changes, effects, planner, LinkEvidence(rule="operator:split")
    )
    return None


def _add_split(
    state: GraphState,
    customer: Customer,
    moved: set[str],
    changes: ChangeBuilder,
    effects: Effects,
    planner: Planner,
    evidence: LinkEvidence,
) -> None:
    """Move ``moved`` out (or, when they hold its founder, the rest), then re-cluster both."""
    founder = min(customer.records, key=state.age)
    going = moved if founder not in moved else customer.records - moved
    first = min(going, key=state.age)
    planner.emit(
        changes,
        effects,
        "split",
        planner.customer_id(first),
        (),
        (evidence,),
        record_id=first,
        records=tuple(sorted(going)),
        from_customer_id=customer.customer_id,
    )
    planner.recluster(changes, effects, customer.records | going)


def _pin(
    state: GraphState,
    command: IdentityCommand,
    changes: ChangeBuilder,
    effects: Effects,
    planner: Planner,
) -> str | None:
    if len(command.records) != 2 or command.records[0] == command.records[1]:
        return "pin:two_records"
    a, b = command.records
    ours, theirs = state.customer_of(a), state.customer_of(b)
    if ours is None or theirs is None:
        return "pin:unknown_record"
    kind = command.pin or "never"
    pin = LinkEvidence(rule=f"pin:{kind}", identifier_type="record", identifier_value=b)
    if kind == "never":
        group = state.pins.always_closure({b}, ours.records) if ours is theirs else set()
        if a in group:
            return "pin:conflict"
    elif any(b.kind == "pin" for b in state.pins.barriers_between(ours.records, theirs.records)):
        return "pin:conflict"
    planner.emit(
        changes,
        effects,
        "pinned",
        ours.customer_id,
        (),
        (pin,),
        record_id=a,
        other_record_id=b,
        pin=kind,
    )
    planner.recluster(changes, effects, ours.records | theirs.records)
    return None
