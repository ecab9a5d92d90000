"""The Splink model over canonical traits: columns, comparisons, blocking rules, the shipped file.

Every record the probabilistic matcher sees becomes one flat row of folded
strings (``COLUMNS``), built by ``row_from_signal`` from the signal's traits
and weak-or-strong email/phone identifiers. Folding happens here, once, in
Python, so Splink compares ``robert smith`` with ``robert smith`` whatever the
source wrote (``Bob  SMITH``).

Blocking rules are plain equalities on whole columns (no SQL expressions), so
the in-memory candidate index of ``identity.matcher`` finds exactly the pairs
Splink's own blocking would: a pair is a candidate when, for some rule, every
column of the rule is non-null and equal on both sides.

The shipped model (``identity/model/splink_model.json``) is trained by
``identity.training`` on FEBRL (see ``bench/identity``); comparisons absent from
FEBRL (email, company) keep Splink's default m/u until ``signalfold identity-model
train`` retrains from stored records.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from signalfold.identity._folding import fold_company, fold_name, fold_text
from signalfold.identity.errors import IdentityError, InvalidIdentifier
from signalfold.identity.normalize import normalize_email, normalize_phone
from signalfold.schemas.signal import Signal

__all__ = [
    "BLOCKING_COLUMNS",
    "COLUMNS",
    "DEFAULT_MODEL_PATH",
    "ModelFileError",
    "Row",
    "blocking_rules",
    "comparisons",
    "load_model",
    "row_from_signal",
    "row_from_traits",
    "settings_dict",
]

Row = dict[str, str | None]

COLUMNS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "birth_date",
    "address",
    "postcode",
    "city",
    "company",
    "email",
    "phone",
)

# Each tuple is one blocking rule: records sharing all these (non-null) values are compared.
BLOCKING_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("given_name", "family_name"),
    ("family_name", "birth_date"),
    ("given_name", "birth_date"),
    ("postcode", "birth_date"),
    ("postcode", "family_name"),
    ("address", "postcode"),
    ("email",),
    ("phone",),
)

DEFAULT_MODEL_PATH = Path(__file__).parent / "model" / "splink_model.json"


class ModelFileError(IdentityError):
    """A Splink model file is missing or is not a model over ``COLUMNS``."""


def _clean(value: str | None, fold: Any = fold_text) -> str | None:
    folded = fold(value) if value else ""
    return folded or None


def row_from_traits(
    record_id: str,
    *,
    given_name: str | None = None,
    family_name: str | None = None,
    birth_date: date | str | None = None,
    address: str | None = None,
    postcode: str | None = None,
    city: str | None = None,
    company: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Row:
    """One model row from raw trait values; folds names, companies and places.

    ``email`` and ``phone`` must already be normalised (or be any stable digit
    string for ``phone``); a postcode loses its spaces (``SW1A 1AA`` → ``sw1a1aa``).
    """
    code = _clean(postcode)
    return {
        "unique_id": record_id,
        "given_name": _clean(given_name, fold_name),
        "family_name": _clean(family_name),
        "birth_date": birth_date.isoformat() if isinstance(birth_date, date) else birth_date,
        "address": _clean(address),
        "postcode": code.replace(" ", "") if code else None,
        "city": _clean(city),
        "company": _clean(company, fold_company),
        "email": email or None,
        "phone": phone or None,
    }


def _first_valid(signal: Signal, kind: str, region: str) -> str | None:
    for identifier in signal.identifiers:
        if identifier.type != kind:
            continue
        try:
            if kind == "email":
                return normalize_email(identifier.value)
            return normalize_phone(identifier.value, region)
        except InvalidIdentifier:
            continue
    return None


def row_from_signal(signal: Signal, *, region: str = "GB") -> Row:
    """The model row of ``signal``'s record (``unique_id`` = its record id).

    A ``full_name`` without given/family parts is split at its first space.
    The first valid email and phone identifiers (strong or weak) are used.
    """
    traits = signal.traits
    given, family = traits.given_name, traits.family_name
    if traits.full_name and not (given or family):
        given, _, family = traits.full_name.strip().partition(" ")
    return row_from_traits(
        signal.record_id,
        given_name=given,
        family_name=family,
        birth_date=traits.birth_date,
        address=traits.address,
        postcode=traits.postcode,
        city=traits.city,
        company=traits.company,
        email=_first_valid(signal, "email", region),
        phone=_first_valid(signal, "phone", region),
    )


def comparisons() -> list[Any]:
    """The model's comparisons, one per column, in ``COLUMNS`` order."""
    import splink.comparison_library as cl

    return [
        cl.NameComparison("given_name"),
        cl.NameComparison("family_name"),
        cl.DateOfBirthComparison("birth_date", input_is_string=True),
        cl.JaroWinklerAtThresholds("address", [0.95, 0.85]),
        cl.LevenshteinAtThresholds("postcode", [1]),
        cl.JaroWinklerAtThresholds("city", [0.92]),
        cl.JaroWinklerAtThresholds("company", [0.92]),
        cl.EmailComparison("email"),
        cl.LevenshteinAtThresholds("phone", [1, 2]),
    ]


def blocking_rules() -> list[Any]:
    """``BLOCKING_COLUMNS`` as Splink ``block_on`` rules."""
    from splink import block_on

    return [block_on(*cols) for cols in BLOCKING_COLUMNS]


def settings_dict() -> dict[str, Any]:
    """Untrained settings for a dedupe model over ``COLUMNS``, without term frequencies.

    ``NameComparison`` and ``EmailComparison`` adjust exact matches by term
    frequency; that is dropped so a score depends on the model alone, not on
    which records happen to be stored — a replay scores every pair the same.
    """
    from splink import SettingsCreator

    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )
    settings: dict[str, Any] = creator.get_settings("duckdb").as_dict()
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            level.pop("tf_adjustment_column", None)
            level.pop("tf_adjustment_weight", None)
    settings.pop("linker_uid", None)
    return settings


def load_model(path: Path | str | None = None) -> dict[str, Any]:
    """The trained model as a settings dict; the shipped one by default."""
    target = Path(path) if path else DEFAULT_MODEL_PATH
    if path is None and not target.exists():
        target = Path(str(resources.files("signalfold.identity") / "model" / "splink_model.json"))
    try:
        model = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(
            f"Splink model {target}: expected a readable JSON model, found {exc!r}; "
            "run `signalfold identity train` to write one"
        ) from exc
    found = [c.get("output_column_name") for c in model.get("comparisons", [])]
    if found != list(COLUMNS):
        raise ModelFileError(
            f"Splink model {target}: expected comparisons {list(COLUMNS)}, found {found}; "
            "retrain it with `signalfold identity train`"
        )
    return model
