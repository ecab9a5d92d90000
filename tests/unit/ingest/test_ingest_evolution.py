"""Contract evolution: additive changes pass under the same version; breaking ones need a bump."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalfold.errors import ConfigError
from signalfold.schemas.contract import load_contract, parse_contract
from signalfold.schemas.contract_evolution import breaking_changes, check_evolution

SHIPPED = Path(__file__).parents[3] / "signalfold/defaults/contracts/billing.yaml"
TEXT = SHIPPED.read_text(encoding="utf-8")


def _variant(old: str, new: str, version: int = 1) -> object:
    changed = TEXT.replace(old, new).replace("version: 1", f"version: {version}")
    assert changed != TEXT or version != 1
    return parse_contract(changed, "billing-next.yaml")


def test_additive_changes_are_accepted_under_the_same_version() -> None:
    base = load_contract(SHIPPED)
    added = _variant(
        "    charge.dispute.created: billing.payment.disputed\n",
        "    charge.dispute.created: billing.payment.disputed\n"
        "    charge.dispute.updated: billing.payment.disputed\n",
    )
    assert check_evolution(base, added) == []
    with_trait = _variant("  country: {", "  city: data.object.customer_address.city\n  country: {")
    assert breaking_changes(base, with_trait) == []


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "  - {type: email, path: data.object.customer_email, trust: strong}\n",
            "",
            "identifier `email` (path `data.object.customer_email`) removed",
        ),
        (
            "{type: billing_customer_id, path: data.object.customer, trust: strong}",
            "{type: stripe_id, path: data.object.customer, trust: strong}",
            "identifier at `data.object.customer` changed from billing_customer_id/strong "
            "to stripe_id/strong",
        ),
        (
            "{type: email, path: data.object.customer_email, trust: strong}",
            "{type: email, path: data.object.customer_email, trust: strong, scope: household}",
            "identifier at `data.object.customer_email` changed from email/strong "
            "to email/strong/household",
        ),
        ("    currency: {path: data.object.currency, transform: upper}\n", "",
         "payload field of billing.invoice.paid: `currency` removed"),
        ("event_id: id", "event_id: data.object.id",
         "`event_id` mapping changed"),
    ],
)  # fmt: skip
def test_breaking_change_is_refused_unless_the_version_is_bumped(
    old: str, new: str, reason: str
) -> None:
    base = load_contract(SHIPPED)
    with pytest.raises(ConfigError, match="breaking change against registered version 1") as err:
        check_evolution(base, _variant(old, new))
    assert reason in str(err.value) and "publish it as version 2" in str(err.value)
    assert any(reason in r for r in check_evolution(base, _variant(old, new, version=2)))


def test_version_may_not_go_down() -> None:
    newer = _variant("owner: finance-platform", "owner: finance-platform", version=3)
    with pytest.raises(ConfigError, match="expected at least the registered version 3, found 1"):
        check_evolution(newer, load_contract(SHIPPED))
