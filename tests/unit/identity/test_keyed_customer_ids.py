"""Customer ids are keyed with the deployment's secret: no one can derive them from a record."""

from __future__ import annotations

import hashlib

from conftest import build_signal

from signalfold.identity import IdentityGraph, customer_id_for


def test_a_keyed_graph_names_customers_by_a_keyed_hash_stable_under_its_key() -> None:
    key, other = b"a deployment secret of 32 bytes!", b"another deployment's secret....."
    signal = build_signal("marketing", "jane@example.com", [("email", "jane@example.com")])
    ids = [IdentityGraph(id_key=k).resolve(signal).customer_id for k in (key, key, other)]
    assert ids[0] == ids[1] == customer_id_for("marketing:jane@example.com", key)
    assert ids[2] != ids[0]
    guessed = "cus_" + hashlib.sha256(b"marketing:jane@example.com").hexdigest()[:20]
    assert guessed not in ids  # whoever guesses the record cannot compute the id
    assert IdentityGraph().resolve(signal).customer_id == guessed  # unkeyed: library use


def test_a_record_that_joins_takes_the_keyed_id_of_the_founding_record() -> None:
    key = b"a deployment secret of 32 bytes!"
    graph = IdentityGraph(id_key=key)
    first = graph.resolve(build_signal("crm", "003A", [("email", "a@example.com")], day=0))
    second = graph.resolve(build_signal("support", "77", [("email", "a@example.com")], day=1))
    assert first.customer_id == second.customer_id == customer_id_for("crm:003A", key)
