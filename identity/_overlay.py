"""What the planner sees: the state with the incoming record's evidence on top, and the
role of each identifier value (how far it may join records, learned from its carriers).

A value's role is a function of every record that carries it: declared
``organisation`` (or a listed role mailbox) never joins; declared ``household``,
or seen with clearly different people (names or birth dates), or with more
distinct holders of a one-per-person identifier than ``MatchRules.max_people``,
joins only records whose names agree; so does a work mailbox — one a holder
who names an employer carries, at a domain that is not one of
``MatchRules.personal_mail_domains`` — whose local part shows none of the
names its holders show (``studio@acme.com`` held by Ann Lee of Acme: it may be
the studio's, and a nameless subscription of it nobody's in particular).
Anything else joins (``person0@example.net`` held by Jane Doe, who names no
employer, may be a small provider's personal address).
"""

from __future__ import annotations

from collections.abc import Mapping

from signalfold.identity._clusters import MAX_CARRIERS, Evidence, KeyRole
from signalfold.identity._state import GraphState
from signalfold.identity.fingerprint import conflict, mailbox_shows_name
from signalfold.identity.rules import MatchRules

__all__ = ["Overlay"]


class Overlay:
    """The incoming record's evidence on top of the state (before it is applied)."""

    def __init__(
        self,
        state: GraphState,
        rules: MatchRules,
        rid: str | None,
        ev: Evidence | None,
        scopes: Mapping[str, str],
    ) -> None:
        self.state, self.rules, self.rid, self.ev, self.scopes = state, rules, rid, ev, scopes
        self._roles: dict[str, KeyRole] = {}

    def evidence(self, r: str) -> Evidence:
        if r == self.rid and self.ev is not None:
            return self.ev
        rec = self.state.records[r]
        return Evidence(
            rec.first_seen,
            frozenset(rec.keys),
            frozenset(rec.names),
            frozenset(rec.births),
            bool(rec.companies),
        )

    def carriers(self, key: str) -> set[str]:
        found = self.state.carriers.get(key, set())
        if self.ev is not None and self.rid is not None and key in self.ev.keys:
            return found | {self.rid}
        return found

    def role(self, key: str) -> KeyRole:
        if key not in self._roles:
            self._roles[key] = self._role(key)
        return self._roles[key]

    def _role(self, key: str) -> KeyRole:
        kind = key.partition(":")[0]
        scopes = set(self.state.scopes.get(key, ()))
        if key in self.scopes:
            scopes.add(self.scopes[key])
        if "organisation" in scopes:
            return KeyRole("no", f"organisation:{kind}")
        if "household" in scopes:
            return KeyRole("agreeing", f"household:{kind}")
        if "personal" in scopes:
            return KeyRole("yes", f"shared:{kind}")
        people = sorted(self.carriers(key))
        if len(people) > MAX_CARRIERS:
            return KeyRole("agreeing", f"shared:{kind}")
        evidence = [self.evidence(r) for r in people]
        for i, a in enumerate(evidence):
            for b in evidence[i + 1 :]:
                if conflict((a.names, b.names), (a.births, b.births)) is not None:
                    return KeyRole("agreeing", f"shared:{kind}")
        # People told apart by identifiers of which one person holds one (a CRM id):
        # more of them on one value than ``max_people`` make it a shared value too.
        single: dict[str, set[str]] = {}
        for ev in evidence:
            for k in ev.keys:
                if self.rules.limit_for(k.partition(":")[0]) == 1:
                    single.setdefault(k.partition(":")[0], set()).add(k)
        if any(len(values) > self.rules.max_people for values in single.values()):
            return KeyRole("agreeing", f"shared:{kind}")
        if kind == "email" and self._unnamed_mailbox(key, evidence):
            return KeyRole("agreeing", f"organisation:{kind}")
        return KeyRole("yes", f"shared:{kind}")

    def _unnamed_mailbox(self, key: str, evidence: list[Evidence]) -> bool:
        local, _, domain = key.partition(":")[2].partition("@")
        if not domain or self.rules.personal_domain(domain):
            return False
        if not any(ev.employed for ev in evidence):
            return False  # nobody says they work somewhere: a small provider's customer
        names = {n for ev in evidence for n in ev.names}
        local = local.split("+", 1)[0]
        return bool(names) and not any(mailbox_shows_name(local, n) for n in names)

    def neighbours(self, r: str) -> set[str]:
        ev = self.evidence(r)
        out: set[str] = set()
        for key in ev.keys:
            carriers = self.carriers(key)
            if self.role(key).joins != "no" and len(carriers) <= MAX_CARRIERS:
                out |= carriers
        out |= set(self.state.matches.get(r, {}))
        out |= self.state.pins.always_of(r)
        customer = self.state.customer_of(r)
        if customer is not None:
            out |= customer.records
        return out
