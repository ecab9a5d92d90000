"""``IdentityGraph``: union of source records into customers, event-sourced and deterministic.

What ``resolve`` does with a signal's record (``source:record_key``):

- Only normalised, non-blocked ``strong`` identifiers join records. Weak ones
  never join and are not stored here (they stay on the signal, for state and
  for a future ``Matcher``); invalid or blocked ones are reported in ``rejected``.
- A first-seen record matching no customer is ``created``: its customer id is
  ``cus_`` + sha256(record id)[:20], its ``birth`` the signal's event time.
- A record matching one customer is ``linked`` to it (evidence ``exact:<type>``);
  a known record bringing new identifiers is ``linked`` again with the new keys.
- A record matching several customers merges them: the survivor is the
  customer whose creating record has the earliest (birth, record id) — a merge
  keeps the older id — and each absorbed id gets a ``customer:<id>`` alias.

Merge protection, the exact choice: the record's own customer (for a new
record: nothing) is the anchor. The record's unclaimed identifiers are added
in key order while they fit the per-type limits; one that does not fit is
dropped and refused. Then the customers it matches are considered oldest
first, each joining only if the anchor plus everything joined so far stays
within every limit. A customer that does not fit is not merged: a ``refused``
change names it (``other_record_id`` = its creating record), lists the keys
that would have joined them (``identifiers``) and gives the reason (evidence
``limit:<type>`` with ``detail`` limit/found); those keys keep pointing at that
customer. The record thus stays separate, or is linked only to the customers
it may join. A refusal is published once per (record, key), so repeated
signals produce no new changes.

Before the limits, two more checks refuse a customer (same ``refused`` change,
other rules): an operator barrier between it and the anchor (evidence
``pin:never`` or ``split``: see ``_pins``), and clear disagreement of the other
evidence (``shared:disagree``: both sides show a name and a birth date and
none agree, see ``_fingerprint``). A key that joins people who disagree, or
that more than ``MatchRules.max_people`` otherwise distinct customers have
carried (``shared:people``), gets a ``shared`` change and stops identifying.

Phones without ``+CC`` are read in the region of their source
(``regions``, from the contracts' ``default_region``), else ``default_region``.
Operator commands (split, pin) are planned in ``identity.operations``.

Every change is applied through ``GraphState.apply``, the code ``apply`` runs on
a replayed log, so rebuilding from ``identity.changes`` gives the same graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from signalfold.identity._links import Link
from signalfold.identity._planner import Planner
from signalfold.identity._state import GraphState
from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.matching import Matcher, NoMatcher
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.operations import CommandOutcome, plan_command
from signalfold.identity.resolution import (
    ChangeBuilder,
    Resolution,
    customer_id_for,
)
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry
from signalfold.schemas.signal import Signal
from signalfold.schemas.state import IdentityRef

__all__ = ["IdentityGraph", "Resolution", "customer_id_for"]

log = logging.getLogger(__name__)

SHARED_REASON = "shared: identifier used by several people"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IdentityGraph:
    """Decides which customer each signal's record belongs to; see the module docstring."""

    def __init__(
        self,
        rules: MatchRules | None = None,
        *,
        default_region: str = "GB",
        regions: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        matcher: Matcher | None = None,
    ) -> None:
        self.rules = rules or MatchRules()
        self.default_region = default_region
        self.regions = dict(regions or {})
        self._clock = clock
        self._matcher: Matcher = matcher or NoMatcher()
        self._state = GraphState()
        self._planner = Planner(self._state, self.rules, self._matcher, self.region_for, self)

    def region_for(self, source: str) -> str:
        """The region phones of ``source`` are read in (its contract's, else the default)."""
        return self.regions.get(source, self.default_region)

    @property
    def matcher(self) -> Matcher:
        """The probabilistic matcher the graph consults (``NoMatcher`` by default)."""
        return self._matcher

    def resolve(self, signal: Signal) -> Resolution:
        """Fold ``signal``'s record into the graph; return the changes to publish."""
        plan = self._planner.plan(signal)
        changes = ChangeBuilder(signal, self._clock())
        survivor, absorbed = self._planner.emit(signal, plan, changes)
        index = self._apply_all(changes.items)
        return Resolution(
            customer_id=self._state.canonical_id(survivor),
            record_id=signal.record_id,
            changes=changes.items,
            index=index,
            merges=[(a, survivor) for a in absorbed],
            rejected=plan.rejected,
        )

    def command(self, command: IdentityCommand) -> CommandOutcome:
        """Carry out an operator's split or pin (see ``identity.operations``)."""
        outcome = plan_command(self._state, command, self._clock())
        index = self._apply_all(outcome.changes)
        return outcome.finish(self._state, index)

    def _apply_all(self, changes: list[IdentityChange]) -> list[IndexEntry]:
        index: dict[str, IndexEntry] = {}
        for change in changes:
            for entry in self._state.apply(change):
                index.pop(entry.key, None)  # keep each key once, at its final position
                index[entry.key] = entry
        return list(index.values())

    def apply(self, change: IdentityChange) -> None:
        """Apply a published change; applying the whole log in order rebuilds the graph."""
        self._state.apply(change)

    def customer_of_record(self, record_id: str) -> str | None:
        """The customer a source record belongs to now, or ``None`` if never seen."""
        customer = self._state.customer_of(record_id)
        return customer.customer_id if customer else None

    def lookup(self, key: str) -> str | None:
        """Current customer of ``type:value`` (normalised), or of ``customer:<old id>``."""
        identifier_type, _, value = key.partition(":")
        if identifier_type == "customer":
            found = self._state.canonical_id(value)
            return found if found in self._state.customers else None
        return self._state.owner.get(key)

    def canonical_id(self, customer_id: str) -> str:
        """Follows aliases to the surviving customer; unknown ids come back unchanged."""
        return self._state.canonical_id(customer_id)

    def aliases_of(self, customer_id: str) -> list[str]:
        """Ids merged into the (canonical) customer, sorted."""
        return self._state.aliases_of(self.canonical_id(customer_id))

    def records_of(self, customer_id: str) -> list[str]:
        """Records of the (canonical) customer, sorted; empty when unknown."""
        customer = self._state.customers.get(self.canonical_id(customer_id))
        return sorted(customer.records) if customer else []

    def keys_of(self, customer_id: str) -> list[str]:
        """Every identifier key the (canonical) customer holds, sorted."""
        customer = self._state.customers.get(self.canonical_id(customer_id))
        if customer is None:
            return []
        return sorted(k for keys in customer.keys.values() for k in keys)

    def changes_of_signal(self, signal_id: str) -> list[IdentityChange]:
        """The changes a signal caused, in order (to re-send after a partial delivery)."""
        return [self._state.log[i] for i in self._state.by_signal.get(signal_id, [])]

    def replayed_effects(self, signal_id: str) -> tuple[list[tuple[str, str]], list[IndexEntry]]:
        """The merges and current index entries a signal caused earlier.

        A batch replayed after a crash finds its changes already in the graph (they
        were in ``identity.changes``), but the other records of that batch may never
        have been acknowledged; both are idempotent downstream, so re-sending them
        is safe, and not re-sending could leave a merge unmoved.
        """
        merges: list[tuple[str, str]] = []
        keys: list[str] = []
        for change in self.changes_of_signal(signal_id):
            survivor = self.canonical_id(change.customer_id)
            keys += change.identifiers
            if change.kind == "merged":
                keys += self.keys_of(survivor)  # the absorbed keys moved to it
                merges += [(absorbed, survivor) for absorbed in change.absorbed_ids]
                keys += [f"customer:{absorbed}" for absorbed in change.absorbed_ids]
        index = []
        for key in dict.fromkeys(keys):
            current = self.lookup(key)
            if current is not None:
                id_type, _, value = key.partition(":")
                index.append(
                    IndexEntry(key=key, customer_id=current, identifier_type=id_type, value=value)
                )
        return merges, index

    def identity_refs(self, signal: Signal) -> tuple[IdentityRef, ...]:
        """The signal's valid identifiers, normalised as the graph reads them (for state)."""
        refs = []
        region = self.region_for(signal.source)
        for identifier in signal.identifiers:
            try:
                norm = normalize_identifier(identifier, region=region)
            except InvalidIdentifier:
                continue
            refs.append(
                IdentityRef(
                    type=norm.type,
                    value=norm.value,
                    source=signal.source,
                    record_id=signal.record_id,
                )
            )
        return tuple(refs)

    def explain(self, customer_id: str) -> list[IdentityChange]:
        """The changes that built this customer and those it absorbed, in order."""
        return self._state.history(customer_id)

    def links(self, customer_id: str) -> list[Link]:
        """Every link between the customer's records, with its evidence, in order."""
        return self._state.links.of(set(self.records_of(customer_id)))

    def why(self, record_a: str, record_b: str) -> list[Link] | None:
        """The chain of links that makes two records one customer; ``None`` if they are not."""
        customer = self._state.customer_of(record_a)
        if customer is None or record_b not in customer.records:
            return None
        return self._state.links.path(record_a, record_b, customer.records)

    def is_shared(self, key: str) -> bool:
        """Whether ``key`` stopped identifying (shared by people who disagree)."""
        return key in self._state.shared
