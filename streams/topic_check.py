"""Whether the broker holds signalfold's topics as signalfold made them.

Stages never create topics by using them (``streams.kafka``), so a topic that
is missing means nobody created it, or the broker lost it (a memory-only
broker that restarted comes back empty). A topic with other settings than
``ensure_topics`` gives it breaks a promise quietly: an ordered log on two
partitions loses its order, a kept log with a retention loses history that
rebuilds replay, and a data class (full history, decision log, dead letters)
kept longer or shorter than its ``SIGNALFOLD_RETENTION_*`` setting breaks what
the operator set. ``problems`` names each difference; ``require`` raises with
all of them, so an operator sees every fix at once. ``align_retention`` is the
one fix signalfold makes itself (``signalfold topics``, ``signalfold run``):
it sets the data classes' ``retention.ms`` from the settings; partitions and
the retention of the other kept logs stay the operator's to fix, since a
wrong one may already have cost data.

Only settings the broker reports are compared: Tansu returns only configs
set explicitly, which ``ensure_topics`` always sets for these topics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from signalfold.settings import format_retention
from signalfold.streams.errors import StreamsError
from signalfold.streams.kafka import admin as make_admin

__all__ = ["TopicSpec", "TopicsNotReady", "align_retention", "problems", "require", "specs"]

log = logging.getLogger(__name__)


class TopicsNotReady(StreamsError):
    """Topics are missing or were made with other settings; the message names each."""


@dataclass(frozen=True)
class TopicSpec:
    """What a topic must be: its partition count (``None``: any) and settings.

    ``setting`` names the ``SIGNALFOLD_RETENTION_*`` setting its ``retention.ms``
    comes from, for a data class (``None``: fixed by signalfold).
    """

    partitions: int | None
    config: Mapping[str, str]
    setting: str | None = None

    def wanted(self, key: str, value: str) -> str:
        """``key=value`` as a problem line names it, with the setting it comes from."""
        if key != "retention.ms" or self.setting is None:
            return f"{key}={value}"
        ms = int(value)
        period = None if ms < 0 else timedelta(milliseconds=ms)
        return f"{key}={value} ({self.setting}={format_retention(period)})"


def specs(
    names: Iterable[str],
    *,
    partitions: int,
    ordered: set[str],
    kept: set[str],
    compacted: set[str],
    retained: Mapping[str, int] | None = None,
    settings_of: Mapping[str, str] | None = None,
) -> dict[str, TopicSpec]:
    """The specs ``ensure_topics`` creates ``names`` with (see ``streams.topics``).

    ``retained`` and ``settings_of`` are ``streams.topics.retention`` and
    ``retention_settings``: a data class's ``retention.ms`` and its setting.
    """
    retained, settings_of = retained or {}, settings_of or {}
    found = {}
    for name in names:
        setting = None
        if name in compacted:
            config = {"cleanup.policy": "compact"}
        elif name in retained:
            config, setting = {"retention.ms": str(retained[name])}, settings_of.get(name)
        elif name in kept:
            config = {"retention.ms": "-1"}
        else:
            config = {}
        found[name] = TopicSpec(1 if name in ordered else partitions, config, setting)
    return found


def problems(client: Mapping[str, str | int], wanted: Mapping[str, TopicSpec]) -> list[str]:
    """One line per topic that is missing or differs from ``wanted``; empty when all hold."""
    admin = make_admin(client)
    meta = admin.list_topics(timeout=10).topics
    found: list[str] = []
    present = [name for name in sorted(wanted) if name in meta]
    for name in sorted(wanted):
        spec = wanted[name]
        if name not in meta:
            found.append(f"{name}: missing")
            continue
        count = len(meta[name].partitions)
        if spec.partitions is not None and count != spec.partitions:
            found.append(f"{name}: expected {spec.partitions} partitions, found {count}")
    checked = [n for n in present if wanted[n].config]
    if checked:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in checked]
        for resource, future in admin.describe_configs(resources, request_timeout=10).items():
            entries = future.result()
            for key, value in wanted[resource.name].config.items():
                entry = entries.get(key)
                if entry is not None and entry.value is not None and entry.value != value:
                    expected = wanted[resource.name].wanted(key, value)
                    found.append(f"{resource.name}: expected {expected}, found {entry.value}")
    return found


def align_retention(client: Mapping[str, str | int], wanted: Mapping[str, TopicSpec]) -> list[str]:
    """Set ``retention.ms`` of existing data-class topics to their setting; one line per change.

    Only specs with a ``setting`` are touched. A topic the broker reports no
    ``retention.ms`` for (Tansu reports only configs set explicitly) gets it
    set, so the check can compare it from then on. Kafka deletes what the new
    retention no longer keeps at its next retention check.
    """
    admin = make_admin(client)
    meta = admin.list_topics(timeout=10).topics
    names = sorted(n for n, s in wanted.items() if s.setting and n in meta)
    if not names:
        return []
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    changes: list[ConfigResource] = []
    lines: list[str] = []
    for resource, future in admin.describe_configs(resources, request_timeout=10).items():
        entry = future.result().get("retention.ms")
        value = wanted[resource.name].config["retention.ms"]
        found = entry.value if entry is not None else None
        if found == value:
            continue
        changes.append(
            ConfigResource(
                ConfigResource.Type.TOPIC,
                resource.name,
                incremental_configs=[
                    ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)
                ],
            )
        )
        expected = wanted[resource.name].wanted("retention.ms", value)
        lines.append(f"{resource.name}: {expected}, was {found or 'unset'}")
    if changes:
        for future in admin.incremental_alter_configs(changes, request_timeout=10).values():
            future.result()
    for line in lines:
        log.warning("retention changed: %s", line)
    return lines


def require(client: Mapping[str, str | int], wanted: Mapping[str, TopicSpec], who: str) -> None:
    """Raise ``TopicsNotReady`` naming every problem, with what to do about each kind."""
    found = problems(client, wanted)
    if not found:
        return
    missing = [p for p in found if p.endswith(": missing")]
    hint = []
    if missing:
        hint.append(
            "missing topics: create them with `signalfold topics` on a new broker; if the "
            "broker restarted without them (the embedded one keeps data in memory only), "
            "what they held is gone, so start over deliberately"
        )
    retention = [p for p in found if "(SIGNALFOLD_RETENTION_" in p]
    if retention:
        hint.append(
            "a retention other than its SIGNALFOLD_RETENTION_* setting: `signalfold topics` "
            "sets it from the settings on existing topics, or set the setting to what the "
            "topic has"
        )
    if len(missing) + len(retention) < len(found):
        hint.append(
            "a topic with other settings than signalfold gives it: recreate it, or change "
            "SIGNALFOLD_PARTITIONS to what the deployment was made with"
        )
    raise TopicsNotReady(f"{who} will not run: " + "; ".join(found) + ". " + "; ".join(hint))
