"""What a source contract would change, computed without publishing anything.

``dry_run`` maps raw events with the contract, resolves them against a copy
of the identity graph rebuilt from ``identity.changes`` (the resolve stage's
own log), and folds each customer's new signals with the suppression policy.
It reports new customers, existing customers the source reaches, merges it
would cause, and the flags its signals raise. Nothing is produced to the
pipeline topics: only the read-to-end fences every reader writes.

The flags are those the new signals raise on their own (a fresh aggregate per
customer), compared with the customer's current flags in ``customer.state``:
a flag counts as raised when the customer does not hold it yet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from signalfold.identity.graph import IdentityGraph
from signalfold.policy import Policy
from signalfold.schemas.contract import SourceContract
from signalfold.streams.ingest.errors import DroppedTrait, MappingError
from signalfold.streams.ingest.mapping import map_event
from signalfold.streams.state.aggregate import CustomerAggregate

__all__ = ["DryRunReport", "dry_run", "flags_by_customer"]


@dataclass
class DryRunReport:
    """The outcome of a dry run; ``lines()`` renders it for people."""

    source: str
    version: int
    events: int = 0
    mapped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    warned: Counter[str] = field(default_factory=Counter)  # dropped traits, by trait
    new_customers: set[str] = field(default_factory=set)
    existing_customers: set[str] = field(default_factory=set)
    merges: list[tuple[str, str]] = field(default_factory=list)
    flags: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [
            f"dry run of `{self.source}` v{self.version}: {self.events} event(s) read, "
            f"{sum(self.mapped.values())} mapped, {sum(self.errors.values())} would dead-letter",
        ]
        out += [f"  {t}: {n}" for t, n in sorted(self.mapped.items())]
        out += [f"  error {kind}: {n}" for kind, n in sorted(self.errors.items())]
        out += [f"  warning, trait {t} dropped: {n}" for t, n in sorted(self.warned.items())]
        out.append(f"new customers: {len(self.new_customers)}")
        out.append(f"existing customers reached: {len(self.existing_customers)}")
        out.append(f"merges: {len(self.merges)}")
        out += [f"  {absorbed} into {survivor}" for absorbed, survivor in self.merges[:20]]
        out.append(f"flags raised: {sum(self.flags.values())}")
        out += [f"  {rule}: {n} customer(s)" for rule, n in sorted(self.flags.items())]
        out.append("nothing was published")
        return out


def dry_run(
    contract: SourceContract,
    raw_events: Iterable[bytes],
    graph: IdentityGraph,
    current_flags: dict[str, set[str]],
    policy: Policy,
    *,
    now: datetime,
    max_bytes: int,
) -> DryRunReport:
    """Map, resolve and fold ``raw_events`` against ``graph`` (which it mutates: pass a copy).

    ``current_flags`` maps each customer id to the rules already flagged on it.
    """
    report = DryRunReport(contract.name, contract.version)
    known_before = set(current_flags)
    aggregates: dict[str, CustomerAggregate] = {}
    for raw in raw_events:
        report.events += 1
        dropped: list[DroppedTrait] = []
        try:
            signal = map_event(contract, raw, received_at=now, max_bytes=max_bytes, dropped=dropped)
        except MappingError as err:
            report.errors[err.kind] += 1
            continue
        report.mapped[signal.type] += 1
        report.warned.update(d.trait for d in dropped)
        result = graph.resolve(signal)
        cid = result.customer_id
        if any(c.kind == "created" for c in result.changes) and cid not in known_before:
            report.new_customers.add(cid)
        elif cid not in report.new_customers:
            report.existing_customers.add(cid)
        report.merges += result.merges
        for absorbed, survivor in result.merges:
            report.new_customers.discard(absorbed)
            if absorbed in known_before or absorbed in report.existing_customers:
                # An older record of a known customer renamed it: still an existing customer.
                report.new_customers.discard(survivor)
                report.existing_customers.add(survivor)
            report.existing_customers.discard(absorbed)
        aggregates.setdefault(cid, CustomerAggregate(cid)).apply(signal)
    merged: dict[str, CustomerAggregate] = {}
    for cid, agg in aggregates.items():  # merges during the run join aggregates
        survivor = graph.canonical_id(cid)
        if survivor in merged:
            merged[survivor].merge(agg)
        else:
            merged[survivor] = agg
    for cid, agg in merged.items():
        held = current_flags.get(cid, set())
        for rule in {f.rule for f in agg.to_state(policy, now).flags} - held:
            report.flags[rule] += 1
    return report


def flags_by_customer(state_values: Iterable[bytes]) -> dict[str, set[str]]:
    """Rules flagged per customer, from ``customer.state`` values (latest per key)."""
    out: dict[str, set[str]] = {}
    for value in state_values:
        state = json.loads(value)
        out[state["customer_id"]] = {flag["rule"] for flag in state.get("flags", ())}
    return out
