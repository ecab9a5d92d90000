"""The identity benchmark's metrics on hand-made clusterings (bench/identity/scoring.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.identity.scoring import b_cubed, exact_clusters, false_merges, pairwise, same_partition

# Truth: {a, b, c} are person 1, {d, e} person 2, f person 3.
TRUTH = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2, "f": 3}


def test_pairwise_counts_pairs_found_by_both() -> None:
    # Predicted {a, b}, {c, d, e}, {f}: pairs found ab, cd, ce, de (4); true ab, ac, bc, de (4).
    pred = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "y", "f": "z"}
    result = pairwise(pred, TRUTH)
    assert (result.precision, result.recall) == (0.5, 0.5)
    assert result.f1 == 0.5


def test_pairwise_all_singletons_is_precise_but_recalls_nothing() -> None:
    pred = {r: r for r in TRUTH}
    result = pairwise(pred, TRUTH)
    assert (result.precision, result.recall, result.f1) == (1.0, 0.0, 0.0)


def test_unanswered_records_are_singletons() -> None:
    pred = {"a": "x", "b": "x", "d": "y", "e": "y", "f": "z"}  # c unanswered
    result = pairwise(pred, TRUTH)
    assert result.precision == 1.0
    assert result.recall == pytest.approx(2 / 4)


def test_exact_clusters_count_only_identical_clusters() -> None:
    pred = {"a": "x", "b": "x", "c": "x", "d": "y", "e": "z", "f": "w"}
    result = exact_clusters(pred, TRUTH)
    # predicted {abc} {d} {e} {f}: two of four are true ones; two of three true ones found.
    assert result.precision == pytest.approx(2 / 4)
    assert result.recall == pytest.approx(2 / 3)


def test_b_cubed_averages_per_record_overlap() -> None:
    pred = {r: "all" for r in TRUTH}  # everything in one cluster
    result = b_cubed(pred, TRUTH)
    assert result.recall == 1.0
    # precision per record: a,b,c 3/6; d,e 2/6; f 1/6 → (9 + 4 + 1) / 36
    assert result.precision == pytest.approx(14 / 36)


def test_false_merges_are_pairs_of_people_attributed_by_shared_tags() -> None:
    truth = {"r1": "p1", "r2": "p2", "r3": "p3", "r4": "p4", "r5": "p5"}
    tags = {
        "p1": frozenset({"household:h1"}),
        "p2": frozenset({"household:h1", "same_name:n1"}),
        "p3": frozenset({"same_name:n1", "role_mailbox:m9"}),
        "p4": frozenset({"role_mailbox:m1"}),
    }
    pred = {"r1": "c1", "r2": "c1", "r3": "c1", "r4": "c2", "r5": "c2"}
    # c1: p1-p2 household; p1-p3 other; p2-p3 same_name. c2: p4-p5 other (no shared group).
    result = false_merges(pred, truth, tags)
    assert result["household"] == 1
    assert result["same_name"] == 1
    assert result["role_mailbox"] == 0
    assert result["other"] == 2
    assert (result["total"], result["clusters"]) == (4, 2)


def test_same_partition_ignores_label_names() -> None:
    assert same_partition({"a": 1, "b": 1, "c": 2}, {"a": "x", "b": "x", "c": "y"})
    assert not same_partition({"a": 1, "b": 1, "c": 2}, {"a": "x", "b": "y", "c": "y"})
    assert not same_partition({"a": 1}, {"a": 1, "b": 1})


labelings = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.integers(0, 5))


@given(labelings)
def test_a_perfect_prediction_scores_one(truth: dict[str, int]) -> None:
    predicted = {r: f"cus_{label}" for r, label in truth.items()}
    for metric in (pairwise, exact_clusters, b_cubed):
        result = metric(predicted, truth)
        assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert false_merges(predicted, truth)["total"] == 0
    assert same_partition(predicted, truth)
