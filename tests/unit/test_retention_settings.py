"""Retention settings: the duration format, its errors, and what reaches the topics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from signalfold.settings import Settings, format_retention, parse_retention, retention_ms
from signalfold.streams.topic_check import specs
from signalfold.streams.topics import Topics, retention, retention_settings, topic_config


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        (" 30D ", timedelta(days=30)),
        ("52w", timedelta(weeks=52)),
        ("400d", timedelta(days=400)),
        ("forever", None),
        ("Forever", None),
    ],
)
def test_durations_people_write_are_read(text: str, period: timedelta | None) -> None:
    assert parse_retention(text, "X") == period


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("30m", "(minutes or months? write hours or days)"),
        ("30", "(a number without a unit)"),
        ("-1", "(a number without a unit)"),
        ("0d", "(zero would delete everything at once)"),
        ("a month", ""),
        ("P30D", ""),
        ("", ""),
    ],
)
def test_anything_else_is_refused_naming_the_setting_and_what_it_expects(
    text: str, why: str
) -> None:
    with pytest.raises(ValueError) as caught:
        parse_retention(text, "SIGNALFOLD_RETENTION_HISTORY")
    assert str(caught.value) == (
        "SIGNALFOLD_RETENTION_HISTORY: expected a whole number of hours, days or weeks "
        f"(`12h`, `30d`, `52w`) or `forever`, found `{text}`" + (f" {why}" if why else "")
    )


def test_the_environment_is_read_and_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    assert defaults.retention_history is None and defaults.retention_decisions is None
    assert defaults.retention_dead_letters == timedelta(days=30)
    monkeypatch.setenv("SIGNALFOLD_RETENTION_HISTORY", "90d")
    monkeypatch.setenv("SIGNALFOLD_RETENTION_DECISIONS", "forever")
    monkeypatch.setenv("SIGNALFOLD_RETENTION_DEAD_LETTERS", "2w")
    read = Settings()
    assert read.retention_history == timedelta(days=90) and read.retention_decisions is None
    assert read.retention_dead_letters == timedelta(weeks=2)
    monkeypatch.setenv("SIGNALFOLD_RETENTION_DEAD_LETTERS", "thirty days")
    with pytest.raises(ValidationError, match="SIGNALFOLD_RETENTION_DEAD_LETTERS: expected a "):
        Settings()


def test_formatting_inverts_parsing() -> None:
    for text in ("12h", "30d", "2w", "forever", "25h"):
        assert format_retention(parse_retention(text)) == text
    assert format_retention(timedelta(days=14)) == "2w"
    assert retention_ms(None) == -1 and retention_ms(timedelta(days=30)) == 2_592_000_000


def test_each_data_class_sets_the_retention_of_its_topics_and_nothing_else() -> None:
    topics = Topics("p.")
    settings = Settings(retention_history="90d", retention_decisions="400d")
    ms = retention(topics, settings)
    day = 86_400_000
    assert ms == {
        "p.signals.canonical": 90 * day,
        "p.signals.resolved": 90 * day,
        "p.decisions.log": 400 * day,
        "p.signals.dlq": 30 * day,
        "p.signals.warnings": 30 * day,
    }
    compacted, kept = topics.compacted(), topics.kept()
    # The identity graph's log stays kept forever whatever the settings say.
    assert topic_config(topics.identity_changes, compacted, kept, ms)["retention.ms"] == "-1"
    assert topic_config(topics.resolved, compacted, kept, ms) == {
        "retention.ms": str(90 * day),
        "retention.bytes": "-1",
    }
    assert topic_config(topics.suppression_changes, compacted, kept, ms) == {}
    # Without settings (a caller that passes none), a kept topic is still kept forever.
    assert topic_config(topics.resolved, compacted, kept, {})["retention.ms"] == "-1"
    wanted = specs(
        topics.pipeline(),
        partitions=3,
        ordered=topics.ordered(),
        kept=kept,
        compacted=compacted,
        retained=ms,
        settings_of=retention_settings(topics),
    )
    assert wanted[topics.dlq].config == {"retention.ms": str(30 * day)}
    assert wanted[topics.dlq].setting == "SIGNALFOLD_RETENTION_DEAD_LETTERS"
    assert wanted[topics.identity_changes].setting is None
    assert wanted[topics.canonical].wanted("retention.ms", str(90 * day)) == (
        f"retention.ms={90 * day} (SIGNALFOLD_RETENTION_HISTORY=90d)"
    )
    assert wanted[topics.decisions_log].wanted("retention.ms", "-1") == (
        "retention.ms=-1 (SIGNALFOLD_RETENTION_DECISIONS=forever)"
    )
