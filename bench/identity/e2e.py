"""End-to-end identity benchmark: raw events in, answers over HTTP out, scored against truth.

    .venv/bin/python -m bench.identity.e2e --people 2000 --seed 1
    .venv/bin/python -m bench.identity.e2e --people 2000 --shuffle 7      # another interleaving
    .venv/bin/python -m bench.identity.e2e --people 500 --compare 7 8     # two runs, same answers?
    .venv/bin/python -m bench.identity.e2e --febrl 3                      # FEBRL3, no SSN
    .venv/bin/python -m bench.identity.e2e --febrl 4 --with-ssn

Each run starts the embedded broker and one process per stage plus ``serve``
(``bench.pipeline.running_pipeline``, as ``make run`` does), with the
benchmark's sources registered the way a platform team adds them
(``SIGNALFOLD_CONTRACTS_DIR=bench/identity/contracts``). It produces the raw
events onto ``signals.raw.<source>`` in event-time order (or shuffled), waits
until ``customer.state`` has folded every event and the API's answers stop
changing, then asks the API which customer each source record belongs to.

There is no per-record lookup in the API, so each record is looked up by its
own source id (``crm_contact_id``, ``newsletter_subscriber_id``,
``helpdesk_user_id``, ``customer_number``): an identifier only that record
carries, which no other source has, so it never helps matching. Lookups use
the batch check (``POST /v1/suppression/check``, 10,000 a call; a decision's
``customer_id`` is the survivor's id); every answer lands in the decision log
like any other caller's.

Scores (``bench.identity.scoring``): pairwise, exact-cluster and B-cubed
precision/recall/F1, and false merges (pairs of true people in one customer)
by cause. Results: a table on stdout and JSON in ``bench/identity/results/``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.identity.multisource import Dataset, febrl, multisource
from bench.identity.scoring import (
    b_cubed,
    exact_clusters,
    false_merges,
    linkable,
    pairwise,
    same_partition,
)
from bench.pipeline import count_signals, running_pipeline
from signalfold.streams.kafka import producer

__all__ = ["main", "run"]

CONTRACTS = Path(__file__).parent / "contracts"
RESULTS = Path(__file__).parent / "results"
_BATCH = 10_000


def _warm_up(settings: Any, topics: Any) -> None:
    """One event nobody is scored on, folded before the benchmark's events are produced.

    Consumer groups join first, as in a pipeline that is already running when
    events arrive. Without it the resolve worker's first assignment may come
    after ingest has filled ``signals.canonical``; its rebuild then loads those
    unresolved records into the Splink store, and the matcher skips them as
    already known: no probabilistic link at all (a pipeline bug, see the report).
    """
    prod = producer(settings.kafka_client_config())
    body = {"id": "nl_warmup", "type": "subscribe", "fired_at": "2026-01-01T00:00:00Z",
            "data": {"id": "sub_warmup", "list_id": "warmup"}}  # fmt: skip
    prod.produce(topics.raw("newsletter"), key=b"sub_warmup", value=json.dumps(body).encode())
    prod.flush(30)
    count_signals(settings, topics, 1, 120)


def _produce(settings: Any, topics: Any, dataset: Dataset, shuffle: int | None) -> float:
    events = [ev for _, ev in dataset.events]
    if shuffle is not None:
        random.Random(shuffle).shuffle(events)
    t0 = time.monotonic()
    prod = producer(settings.kafka_client_config())
    for ev in events:
        while True:
            try:
                prod.produce(topics.raw(ev.source), key=ev.key.encode(), value=ev.value)
                break
            except BufferError:
                prod.poll(0.05)
    prod.flush(60)
    return time.monotonic() - t0


def _answers(http: httpx.Client, dataset: Dataset) -> dict[str, str]:
    """Record id → customer id, as the API answers now (unknown records left out)."""
    records = list(dataset.truth.lookup)
    out: dict[str, str] = {}
    for i in range(0, len(records), _BATCH):
        chunk = records[i : i + _BATCH]
        checks = [
            {"type": t, "value": v, "channel": "email", "purpose": "transactional"}
            for t, v in (dataset.truth.lookup[r] for r in chunk)
        ]
        response = http.post("/v1/suppression/check", json={"checks": checks}, timeout=120)
        response.raise_for_status()
        for result in response.json()["results"]:
            decision = result["decision"]
            if decision is not None and decision["customer_id"] is not None:
                out[chunk[result["index"]]] = decision["customer_id"]
    return out


def _settled(http: httpx.Client, dataset: Dataset, timeout: float) -> tuple[dict[str, str], int]:
    """Answers once two polls 3 s apart agree on every record, or three polls in a row agree
    with some records still unanswered (they stay so: see ``_unanswered``), or time is up."""
    deadline = time.monotonic() + timeout
    last = _answers(http, dataset)
    polls, unchanged = 1, 0
    while time.monotonic() < deadline:
        time.sleep(3)
        now = _answers(http, dataset)
        polls += 1
        unchanged = unchanged + 1 if now == last else 0
        if (unchanged and len(now) == len(dataset.truth.lookup)) or unchanged >= 2:
            return now, polls
        last = now
    return last, polls


def _unanswered(http: httpx.Client, dataset: Dataset, answered: dict[str, str]) -> dict[str, Any]:
    """For records the batch check gave no customer: what the customer lookup says (≤ 50)."""
    out: dict[str, Any] = {}
    for record in [r for r in dataset.truth.lookup if r not in answered][:50]:
        id_type, value = dataset.truth.lookup[record]
        r = http.get("/v1/customers/lookup", params={"type": id_type, "value": value})
        out[record] = {"status": r.status_code, "body": r.text[:300]}
    return out


def score(predicted: dict[str, str], dataset: Dataset) -> dict[str, Any]:
    """Every metric of ``predicted`` (record → customer id) against the dataset's truth."""
    truth = dataset.truth
    out: dict[str, Any] = {
        "records": len(truth.person),
        "people": len(set(truth.person.values())),
        "answered": len(predicted),
        "customers": len(set(predicted.values())),
        "pairwise": pairwise(predicted, truth.person).as_dict(),
        "exact_cluster": exact_clusters(predicted, truth.person).as_dict(),
        "b_cubed": b_cubed(predicted, truth.person).as_dict(),
        "false_merges": false_merges(predicted, truth.person, truth.tags),
    }
    if any(truth.values.values()):  # what identifiers alone could join (scoring.linkable)
        reach = linkable(truth.person, truth.values)
        out["linkable_people"] = len(set(reach.values()))
        out["pairwise_linkable"] = pairwise(predicted, reach).as_dict()
        out["exact_cluster_linkable"] = exact_clusters(predicted, reach).as_dict()
        out["b_cubed_linkable"] = b_cubed(predicted, reach).as_dict()
    return out


def mapped_signals(dataset: Dataset) -> list[Any]:
    """The dataset's events mapped through their contracts, in process (event-time order)."""
    from signalfold.schemas.contract import load_contracts
    from signalfold.streams.ingest import map_event

    contracts = load_contracts(CONTRACTS)
    now = datetime.now(UTC)
    return [
        map_event(contracts[ev.source], ev.value, received_at=now, max_bytes=1 << 20)
        for _, ev in dataset.events
    ]


def store_prior_model(dataset: Dataset, out: Path) -> Path:
    """The shipped model with its prior re-estimated on the dataset's own records.

    What a deployment does with ``signalfold identity train``-style tooling before
    linking its store: no labels, only the records (each record's first event,
    mapped through its contract), as the resolve stage would see them.
    """
    from signalfold.identity.splink_model import load_model, row_from_signal
    from signalfold.identity.training import with_store_prior

    first: dict[str, Any] = {}
    for signal in mapped_signals(dataset):
        first.setdefault(signal.record_id, signal)
    rows = [row_from_signal(s) for s in first.values()]
    out.write_text(json.dumps(with_store_prior(load_model(), rows)))
    return out


def run(
    dataset: Dataset,
    *,
    shuffle: int | None = None,
    timeout: float = 900,
    store_prior: bool = False,
) -> dict[str, Any]:
    """Feed ``dataset`` through a fresh pipeline and score the API's answers."""
    workdir = Path(tempfile.mkdtemp(prefix="signalfold-idbench-"))
    t_start = time.monotonic()
    env = {"SIGNALFOLD_CONTRACTS_DIR": str(CONTRACTS.resolve())}
    if store_prior:
        model = store_prior_model(dataset, workdir / "model.json")
        env["SIGNALFOLD_SPLINK_MODEL_PATH"] = str(model)
    with running_pipeline(workdir, env) as (settings, topics, base):
        _warm_up(settings, topics)
        t_ready = time.monotonic()
        produce_s = _produce(settings, topics, dataset, shuffle)
        t_produced = time.monotonic()
        try:
            count_signals(settings, topics, len(dataset.events) + 1, timeout)
            folded = True
        except TimeoutError:
            folded = False  # some events never reached customer.state: the scores say how many
        t_folded = time.monotonic()
        with httpx.Client(base_url=base) as http:
            predicted, polls = _settled(http, dataset, timeout=120)
            unanswered = _unanswered(http, dataset, predicted)
        t_end = time.monotonic()
    return {
        "shuffle": shuffle,
        "events": len(dataset.events),
        "all_events_folded": folded,
        "timing_s": {
            "start": round(t_ready - t_start, 1),
            "produce": round(produce_s, 1),
            "fold": round(t_folded - t_produced, 1),
            "settle_and_lookup": round(t_end - t_folded, 1),
            "total": round(t_end - t_start, 1),
        },
        "lookup_polls": polls,
        "logs": str(workdir),
        "scores": score(predicted, dataset),
        "unanswered": unanswered,
        "answers": predicted,
    }


def compare(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Whether two runs put the same records together, under the same customer ids."""
    a, b = first["answers"], second["answers"]
    differ = sorted(r for r in a.keys() | b.keys() if a.get(r) != b.get(r))
    return {
        "same_clusters": same_partition(a, b),
        "same_customer_ids": not differ,
        "records_with_other_id": len(differ),
        "examples": differ[:5],
    }


def _table(name: str, result: dict[str, Any]) -> str:
    s = result["scores"]
    fm = s["false_merges"]
    causes = " ".join(f"{c}={fm[c]}" for c in fm if c not in ("total", "clusters"))
    rows = [
        f"{name}: {s['records']} records of {s['people']} people -> {s['customers']} customers "
        f"({s['answered']} answered); {result['timing_s']['total']} s "
        f"(fold {result['timing_s']['fold']} s)",
        f"  {'metric':<24}{'precision':>10}{'recall':>10}{'F1':>10}",
    ]
    metrics = ("pairwise", "exact_cluster", "b_cubed")
    if "linkable_people" in s:
        metrics += ("pairwise_linkable", "exact_cluster_linkable", "b_cubed_linkable")
        rows[0] += f"; {s['linkable_people']} groups identifiers can join"
    for metric in metrics:
        m = s[metric]
        rows.append(f"  {metric:<24}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}")
    rows.append(f"  false merges (person pairs): {fm['total']} in {fm['clusters']} customers: ")
    rows[-1] += causes
    return "\n".join(rows)


def _save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=True))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shuffle", type=int, default=None, help="feed in a shuffled order")
    parser.add_argument(
        "--compare",
        type=int,
        nargs=2,
        metavar=("A", "B"),
        help="run twice, shuffled with A and with B, and compare the answers",
    )
    parser.add_argument("--febrl", type=int, choices=(1, 2, 3, 4), default=None)
    parser.add_argument("--with-ssn", action="store_true", help="FEBRL: send soc_sec_id")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--store-prior",
        action="store_true",
        help="re-estimate the model's prior on the dataset's records first (no labels)",
    )
    args = parser.parse_args()

    if args.febrl:
        dataset = febrl(args.febrl, with_ssn=args.with_ssn, seed=args.seed)
        name = f"febrl{args.febrl}{'-ssn' if args.with_ssn else ''}"
    else:
        dataset = multisource(args.people, args.seed)
        name = f"multisource-{args.people}-s{args.seed}"
    if args.store_prior:
        name += "-store-prior"
    meta = {"dataset": name, "date": datetime.now(UTC).isoformat(timespec="seconds")}
    if args.compare:
        runs = [
            run(dataset, shuffle=s, timeout=args.timeout, store_prior=args.store_prior)
            for s in args.compare
        ]
        same = compare(*runs)
        for s, r in zip(args.compare, runs, strict=True):
            print(_table(f"{name} shuffle {s}", r))
        print(f"shuffles {args.compare[0]} vs {args.compare[1]}: {json.dumps(same)}")
        path = _save(f"{name}-compare", {**meta, "runs": runs, "comparison": same})
    else:
        result = run(
            dataset, shuffle=args.shuffle, timeout=args.timeout, store_prior=args.store_prior
        )
        suffix = f" shuffle {args.shuffle}" if args.shuffle is not None else ""
        print(_table(name + suffix, result))
        path = _save(name, {**meta, **result})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
