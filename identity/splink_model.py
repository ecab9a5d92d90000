"""The Splink model over canonical traits: columns, comparisons, blocking rules, the shipped file.

Every record the probabilistic matcher sees becomes one flat row of folded
strings (``COLUMNS``), built by ``row_from_signal`` from the signal's traits
and weak-or-strong email/phone identifiers. Folding happens here, once, in
Python, so Splink compares ``robert smith`` with ``robert smith`` whatever the
source wrote (``Bob  SMITH``). Derived columns are computed here too: a
Soundex code per name (``*_phonetic``), the address split into its leading
``street_number`` and the ``street``, and the street's words sorted
(``street_tokens``: address lines written in another order still agree).

Comparisons (``COMPARISONS``, one weight each in a pair's evidence):

- **given_name**, **family_name**: exact, same Soundex, Jaro-Winkler >= 0.92,
  (given name only: given and family name swapped; counted once, in the given
  name, because a second level in the family name would make every surname
  FEBRL replaced weigh more against), >= 0.8, else. Nicknames
  are already folded (``Bob`` = ``Robert``), so a name that reaches "else" is a
  different name and weighs against a link — what keeps household members
  (same family name and address) apart.
- **birth_date** (ISO strings): exact, day and month swapped, one digit off
  or two adjacent digits swapped (Damerau-Levenshtein 1), else. Compared as
  text, so an impossible date a source sent (``1980-02-30``) still meets its
  corrected twin.
- **location**: one comparison over street number, street, postcode, city
  and region, from the most to the least specific: same dwelling (number,
  street or its sorted words, and postcode within one edit or same city), same street (likewise),
  same postcode, same city, postcode one edit off, same region, else.
  Postcode, city and region say the same thing at different grain: as separate
  comparisons their weights add up (≈30 bits for a shared address, enough to
  link a household on the family name alone), because Splink assumes
  comparisons independent given match status. One comparison counts the
  location once, at the level of its most specific agreement. Capping the
  sum instead would not be Splink's arithmetic: batch Splink (the reference
  and the Spark re-linkage) would score pairs differently from the stream.
- **email**, **phone**: exact or else. They are identifiers: a number two
  digits off is another number, not a typo of the same one. FEBRL has neither,
  so their m/u start from stated assumptions (``IDENTIFIER_PRIORS``) that
  training on stored records carrying them re-estimates.
- **company**: exact, Jaro-Winkler >= 0.92, else (priors as for email).

No term-frequency adjustments: a score depends on the model alone, never on
which records happen to be stored, so a replay (or another arrival order)
scores every pair the same. A common name weighs as much as a rare one; the
Soundex and location levels make up for part of what that costs.

Blocking rules are plain equalities on whole columns (no SQL expressions), so
the in-memory candidate index of ``identity.matcher`` finds exactly the pairs
Splink's own blocking would: a pair is a candidate when, for some rule, every
column of the rule is non-null and equal on both sides.

The shipped model (``identity/model/splink_model.json``) is trained by
``identity.training`` on FEBRL 1-4 without ``soc_sec_id`` (see ``bench/identity``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jellyfish

from signalfold.identity._folding import fold_company, fold_name, fold_text
from signalfold.identity.errors import IdentityError, InvalidIdentifier
from signalfold.identity.normalize import normalize_email, normalize_phone
from signalfold.schemas.signal import Signal

__all__ = [
    "BLOCKING_COLUMNS",
    "COLUMNS",
    "COMPARISONS",
    "DEFAULT_MODEL_PATH",
    "IDENTIFIER_PRIORS",
    "SWAPPED_NAMES_RULE",
    "ModelFileError",
    "Row",
    "blocking_rules",
    "comparisons",
    "load_model",
    "phonetic",
    "row_from_signal",
    "row_from_traits",
    "settings_dict",
    "split_address",
]

Row = dict[str, str | None]

# The row's columns (what ``row_from_traits`` fills), in a fixed order.
COLUMNS: tuple[str, ...] = (
    "given_name",
    "given_name_phonetic",
    "family_name",
    "family_name_phonetic",
    "birth_date",
    "street_number",
    "street",
    "street_tokens",
    "postcode",
    "city",
    "region",
    "company",
    "email",
    "phone",
)

# The model's comparisons (``ScoredPair.contributions`` keys), in the model's order.
COMPARISONS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "birth_date",
    "location",
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
    ("street", "postcode"),
    ("given_name_phonetic", "family_name_phonetic"),
    ("birth_date", "city"),
    ("birth_date", "street_number"),
    ("email",),
    ("phone",),
)
#: The first rule (given and family name) is also looked up the other way round:
#: a form that swapped the two fields (``Smith John``) still meets its record.
SWAPPED_NAMES_RULE = ("given_name", "family_name")

# Starting m and u per non-null level (best level first) of the comparisons FEBRL
# cannot train. Email and phone: a person keeps one of several per source (m of
# exact < 1) and a household or a desk shares one now and then (u > 0). Company:
# colleagues share it, so it is weak evidence. Training on records that carry
# these columns re-estimates them (u by sampling, m by EM).
IDENTIFIER_PRIORS: dict[str, tuple[list[float], list[float]]] = {
    "company": ([0.5, 0.2, 0.3], [0.01, 0.01, 0.98]),
    "email": ([0.6, 0.4], [1e-5, 1 - 1e-5]),
    "phone": ([0.7, 0.3], [1e-4, 1 - 1e-4]),
}

DEFAULT_MODEL_PATH = Path(__file__).parent / "model" / "splink_model.json"

_NUMBER = re.compile(r"(\d+[a-z]?) (.+)")
_LETTERS = re.compile(r"[^a-z]")


class ModelFileError(IdentityError):
    """A Splink model file is missing or is not a model over ``COMPARISONS``."""


def _clean(value: str | None, fold: Any = fold_text) -> str | None:
    folded = fold(value) if value else ""
    return folded or None


def phonetic(name: str | None) -> str | None:
    """Soundex of a folded name's letters (``smyth`` → ``S530``), None without letters."""
    letters = _LETTERS.sub("", name) if name else ""
    return jellyfish.soundex(letters) if letters else None


def split_address(address: str | None) -> tuple[str | None, str | None]:
    """(street number, street) of a folded address: ``12b elm road`` → (``12b``, ``elm road``).

    Only a leading number counts; an address without one is all street.
    """
    if not address:
        return None, None
    found = _NUMBER.fullmatch(address)
    return (found.group(1), found.group(2)) if found else (None, address)


def row_from_traits(
    record_id: str,
    *,
    given_name: str | None = None,
    family_name: str | None = None,
    birth_date: date | str | None = None,
    address: str | None = None,
    postcode: str | None = None,
    city: str | None = None,
    region: str | None = None,
    company: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Row:
    """One model row from raw trait values; folds names, companies and places.

    ``email`` and ``phone`` must already be normalised (or be any stable digit
    string for ``phone``); a postcode loses its spaces (``SW1A 1AA`` → ``sw1a1aa``);
    ``birth_date`` is a date or an ISO ``YYYY-MM-DD`` string (kept as given).
    """
    code = _clean(postcode)
    given, family = _clean(given_name, fold_name), _clean(family_name)
    number, street = split_address(_clean(address))
    return {
        "unique_id": record_id,
        "given_name": given,
        "given_name_phonetic": phonetic(given),
        "family_name": family,
        "family_name_phonetic": phonetic(family),
        "birth_date": birth_date.isoformat() if isinstance(birth_date, date) else birth_date,
        "street_number": number,
        "street": street,
        "street_tokens": " ".join(sorted(set(street.split()))) if street else None,
        "postcode": code.replace(" ", "") if code else None,
        "city": _clean(city),
        "region": _clean(region),
        "company": _clean(company, fold_company),
        "email": email or None,
        "phone": phone or None,
    }


def _first_valid(
    signal: Signal, kind: str, region: str, ignored: Callable[[str], bool] | None
) -> str | None:
    for identifier in signal.identifiers:
        if identifier.type != kind:
            continue
        try:
            if kind == "email":
                value = normalize_email(identifier.value)
            else:
                value = normalize_phone(identifier.value, region)
        except InvalidIdentifier:
            continue
        if ignored is None or not ignored(f"{kind}:{value}"):
            return value
    return None


def row_from_signal(
    signal: Signal, *, region: str = "GB", ignored: Callable[[str], bool] | None = None
) -> Row:
    """The model row of ``signal``'s record (``unique_id`` = its record id).

    A ``full_name`` without given/family parts is split at its first space.
    The first valid email and phone identifiers (strong or weak) are used,
    skipping keys ``ignored`` names (``type:value``: a placeholder or a role
    mailbox, which two strangers share and so must not count as agreement).
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
        region=traits.region,
        company=traits.company,
        email=_first_valid(signal, "email", region, ignored),
        phone=_first_valid(signal, "phone", region, ignored),
    )


def _name(column: str, other: str | None = None) -> Any:
    """A name's levels; with ``other``, one for the two names given the other way round."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    swapped = (
        [
            cll.CustomLevel(
                f'"{column}_l" = "{other}_r" OR "{other}_l" = "{column}_r"',
                label_for_charts=f"{column} and {other} swapped",
            )
        ]
        if other
        else []
    )
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column),
            cll.ExactMatchLevel(f"{column}_phonetic").configure(
                label_for_charts=f"Same Soundex ({column}_phonetic)"
            ),
            cll.JaroWinklerLevel(column, 0.92),
            *swapped,
            cll.JaroWinklerLevel(column, 0.8),
            cll.ElseLevel(),
        ],
    )


def _birth_date() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    swap = (
        'substr("birth_date_l", 1, 4) = substr("birth_date_r", 1, 4) AND '
        'substr("birth_date_l", 6, 2) = substr("birth_date_r", 9, 2) AND '
        'substr("birth_date_l", 9, 2) = substr("birth_date_r", 6, 2)'
    )
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            # FEBRL never swaps day and month, so EM cannot learn how often a person's
            # records do: m is fixed at an assumed 1% (u is still measured).
            cll.CustomLevel(swap, label_for_charts="Day and month swapped").configure(
                m_probability=0.01, fix_m_probability=True
            ),
            cll.DamerauLevenshteinLevel("birth_date", 1).configure(
                label_for_charts="One digit off or two adjacent digits swapped"
            ),
            cll.ElseLevel(),
        ],
    )


def _location() -> Any:
    """Street number, street, postcode, city and region as one comparison (see the module doc)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    # The street as written, or its words in any order ("rhosewyn bynoe place").
    street = cll.Or(cll.JaroWinklerLevel("street", 0.9), cll.JaroWinklerLevel("street_tokens", 0.9))
    area = cll.Or(cll.DamerauLevenshteinLevel("postcode", 1), cll.JaroWinklerLevel("city", 0.9))
    # Postcode and city are never required together: FEBRL draws them independently,
    # so agreement on both would train as near-unique, which it is not in real data.
    return cl.CustomComparison(
        output_column_name="location",
        comparison_levels=[
            cll.And(*(cll.NullLevel(c) for c in ("street", "postcode", "city", "region"))),
            cll.And(cll.ExactMatchLevel("street_number"), street, area).configure(
                label_for_charts="Same dwelling"
            ),
            cll.And(street, area).configure(label_for_charts="Same street"),
            cll.ExactMatchLevel("postcode").configure(label_for_charts="Same postcode"),
            cll.JaroWinklerLevel("city", 0.9).configure(label_for_charts="Same city"),
            cll.DamerauLevenshteinLevel("postcode", 1).configure(
                label_for_charts="Postcode one character off"
            ),
            cll.ExactMatchLevel("region").configure(label_for_charts="Same region only"),
            cll.ElseLevel(),
        ],
    )


def _with_priors(comparison: Any, column: str) -> Any:
    m, u = IDENTIFIER_PRIORS[column]
    return comparison.configure(m_probabilities=m, u_probabilities=u)


def comparisons() -> list[Any]:
    """The model's comparisons, in ``COMPARISONS`` order."""
    import splink.comparison_library as cl

    return [
        _name("given_name", "family_name"),
        _name("family_name", "given_name"),
        _birth_date(),
        _location(),
        _with_priors(cl.JaroWinklerAtThresholds("company", [0.92]), "company"),
        _with_priors(cl.ExactMatch("email"), "email"),
        _with_priors(cl.ExactMatch("phone"), "phone"),
    ]


def blocking_rules() -> list[Any]:
    """``BLOCKING_COLUMNS`` as Splink ``block_on`` rules, and the swapped names' rule."""
    from splink import block_on
    from splink.blocking_rule_library import CustomRule

    given, family = SWAPPED_NAMES_RULE
    swapped = CustomRule(f"l.{given} = r.{family} AND l.{family} = r.{given}")
    return [*(block_on(*cols) for cols in BLOCKING_COLUMNS), swapped]


def settings_dict() -> dict[str, Any]:
    """Untrained settings for a dedupe model over ``COLUMNS``, without term frequencies.

    Library comparisons may adjust exact matches by term frequency; that is
    dropped so a score depends on the model alone, not on which records happen
    to be stored — a replay scores every pair the same.
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
    if not isinstance(model, dict):
        raise ModelFileError(
            f"Splink model {target}: expected a JSON object, found a JSON "
            f"{type(model).__name__}; run `signalfold identity train` to write one"
        )
    found = [c.get("output_column_name") for c in model.get("comparisons", [])]
    if found != list(COMPARISONS):
        raise ModelFileError(
            f"Splink model {target}: expected comparisons {list(COMPARISONS)}, found {found}; "
            "retrain it with `signalfold identity train`"
        )
    return model
