"""CPU per signal of the identity graph, in process: where resolve's time goes.

    .venv/bin/python -m bench.identity.graph_cost [--people 20000] [--seed 3] [--splink]
                                                  [--no-gc]

The multi-source benchmark's events (``bench.identity.multisource``) are mapped
through their contracts once, then fed to ``IdentityGraph.resolve`` in
micro-batches of 500 (``SplinkMatcher.prepare`` per batch with ``--splink``),
timed with ``time.process_time``. ``--no-gc`` turns the collector off to
separate the algorithm from the collector's share. Not a user-facing figure
(that is ``bench.identity.e2e``): it is for finding where time goes.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

from bench.identity.e2e import mapped_signals
from bench.identity.multisource import multisource
from signalfold.identity.graph import IdentityGraph
from signalfold.identity.probabilistic import build_matcher

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--splink", action="store_true", help="with the Splink matcher")
    parser.add_argument("--no-gc", action="store_true", help="collector off while timing")
    args = parser.parse_args()
    signals = mapped_signals(multisource(args.people, args.seed))
    matcher = None
    if args.splink:
        matcher = build_matcher(
            model_path=None, match_probability=0.99, review_probability=0.5, region="GB"
        )
    graph = IdentityGraph(matcher=matcher)
    gc.collect()
    if args.no_gc:
        gc.disable()
    start = time.process_time()
    for i in range(0, len(signals), 500):
        batch = signals[i : i + 500]
        if matcher is not None:
            matcher.prepare(batch)
        for signal in batch:
            graph.resolve(signal)
    spent = time.process_time() - start
    gc.enable()
    print(
        json.dumps(
            {
                "signals": len(signals),
                "splink": args.splink,
                "gc": not args.no_gc,
                "us_per_signal": round(spent / len(signals) * 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
