"""Normalisation: plain examples plus idempotence properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalfold.identity import (
    InvalidIdentifier,
    NormalizedId,
    fold_company,
    fold_name,
    fold_text,
    normalize_email,
    normalize_identifier,
    normalize_phone,
)
from signalfold.identity.errors import SignalfoldError
from signalfold.schemas import Identifier


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  jane.doe@example.com\t", "jane.doe@example.com"),
        (
            "\uff2a\uff21\uff2e\uff25@example.com",
            "jane@example.com",
        ),  # full-width letters fold under NFKC
        ("jane+news@example.com", "jane+news@example.com"),  # only Gmail defines +tags
        ("J.A.N.E+promo@GMail.com", "jane@gmail.com"),
        ("jane.doe@googlemail.com", "janedoe@gmail.com"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def test_gmail_rules_off_keeps_dots_tags_and_domain() -> None:
    raw = "J.Doe+x@GoogleMail.com"
    assert normalize_email(raw, provider_rules=False) == "j.doe+x@googlemail.com"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "expected an address, found an empty string"),
        ("jane doe@example.com", "expected no whitespace inside the address, found some"),
        ("jane@@example.com", "expected exactly one '@', found 2"),
        ("jane.example.com", "expected exactly one '@', found 0"),
        ("jane@localhost", "expected a domain with a dot"),
        ("jane..doe@example.com", "expected a local part of letters"),
        ("jane@exa_mple.com", "expected domain labels"),
        ("jane@example.c", r"expected a top-level domain of 2\+ letters"),
        ("+tag@gmail.com", "expected a Gmail local part"),
    ],
)
def test_invalid_email_says_what_was_expected_and_found(raw: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message) as info:
        normalize_email(raw)
    assert info.value.identifier_type == "email"
    assert str(info.value).startswith("email identifier")
    assert isinstance(info.value, SignalfoldError)


def test_invalid_email_message_is_redacted() -> None:
    with pytest.raises(InvalidIdentifier, match=r"'j\*\*\*@localhost'") as info:
        normalize_email("jane.secret@localhost")
    assert "secret" not in str(info.value)
    assert "secret" not in info.value.reason


def test_uk_local_and_international_phones_are_equal() -> None:
    assert normalize_phone("07911 123456", "GB") == "+447911123456"
    assert normalize_phone("+44 7911 123456", "GB") == "+447911123456"
    assert normalize_phone("+44 (0)7911-123456", "US") == "+447911123456"
    assert normalize_phone("020 7946 0018", "GB") == normalize_phone("+442079460018", "FR")


def test_default_region_applies_only_without_country_code() -> None:
    assert normalize_phone("(202) 555-0123", "US") == "+12025550123"


@pytest.mark.parametrize(
    "raw", ["0000000", "07777 777777", "+44 7777 777777", "1234567", "+44 1234 567890"]
)
def test_placeholder_phones_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidIdentifier, match="found a placeholder"):
        normalize_phone(raw, "GB")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("call me", "expected digits, found none"),
        ("+44 20 7946 001", "expected a number valid in its region"),
        ("+999 12345678", "expected a phone number"),
    ],
)
def test_invalid_phones_are_rejected(raw: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message) as info:
        normalize_phone(raw, "GB")
    assert "7946" not in str(info.value)


def test_normalize_identifier_by_type() -> None:
    email = normalize_identifier(Identifier(type="email", value=" A@B.co "), region="GB")
    assert email == NormalizedId("email", "a@b.co", "strong")
    assert email.key == "email:a@b.co"
    crm = normalize_identifier(
        Identifier(type="crm_contact_id", value=" Ab-1 ", trust="weak"), region="GB"
    )
    assert (crm.key, crm.trust) == ("crm_contact_id:Ab-1", "weak")
    with pytest.raises(
        InvalidIdentifier, match="crm_contact_id identifier rejected: expected a non-empty id"
    ):
        normalize_identifier(Identifier(type="crm_contact_id", value="   "), region="GB")


def test_folds() -> None:
    assert fold_text("  Zoë   O'Brien-Łukasz ") == "zoe o brien lukasz"
    assert fold_name("Bob  SMITH") == "robert smith"
    assert fold_name("Liz Taylor") == fold_name("Elizabeth Taylor")
    assert fold_name("Bill") == "william"
    assert fold_company("ACME Widgets, Ltd.") == "acme widgets"
    assert fold_company("Müller G.m.b.H.") == "muller"
    assert fold_company("Smith & Co. LLC") == "smith"
    assert fold_company("Co-op Bank plc") == "co op bank"
    assert fold_company("AG") == "ag"


emails = st.from_regex(
    r"\A[ ]{0,2}[A-Za-z0-9][A-Za-z0-9.+_-]{0,10}@[A-Za-z]{1,8}\.(com|co\.uk|DE)[ ]{0,2}\Z"
)
gmails = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9.+]{0,10}@(gmail|GoogleMail)\.com\Z")


@settings(deadline=None)
@given(st.one_of(emails, gmails), st.booleans())
def test_normalize_email_is_idempotent(raw: str, provider_rules: bool) -> None:
    try:
        once = normalize_email(raw, provider_rules=provider_rules)
    except InvalidIdentifier:
        return
    assert normalize_email(once, provider_rules=provider_rules) == once


@settings(deadline=None)
@given(st.from_regex(r"\A(\+44 ?|0)7[0-9]{3} ?[0-9]{6}\Z"), st.sampled_from(["GB", "US", "DE"]))
def test_normalize_phone_is_idempotent(raw: str, region: str) -> None:
    try:
        once = normalize_phone(raw, "GB")
    except InvalidIdentifier:
        return
    assert normalize_phone(once, region) == once


@given(st.text(max_size=30))
def test_folds_are_idempotent(text: str) -> None:
    assert fold_text(fold_text(text)) == fold_text(text)
    assert fold_name(fold_name(text)) == fold_name(text)
    assert fold_company(fold_company(text)) == fold_company(text)


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeffjane@example.com",
        "jane\u200b@example.com",
        "jane@example.com\x00",
        "ja\u00adne@example.com",
    ],
)
def test_invisible_characters_a_copy_or_an_export_left_do_not_lose_the_address(raw: str) -> None:
    assert normalize_email(raw) == "jane@example.com"
    assert normalize_phone("\ufeff07911\u200b123456", "GB") == "+447911123456"
