"""Whether the broker holds signalfold's topics as signalfold made them.

Stages never create topics by using them (``streams.kafka``), so a topic that
is missing means nobody created it, or the broker lost it (a memory-only
broker that restarted comes back empty). A topic with other settings than
``ensure_topics`` gives it breaks a promise quietly: an ordered log on two
partitions loses its order, a kept log with a retention loses history that
rebuilds replay. ``problems`` names each difference; ``require`` raises with
all of them, so an operator sees every fix at once.

Only settings the broker reports are compared: Tansu returns only configs
set explicitly, which ``ensure_topics`` always sets for these topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient, ConfigResource

from signalfold.errors import SignalfoldError

__all__ = ["TopicSpec", "TopicsNotReady", "problems", "require", "specs"]


class TopicsNotReady(SignalfoldError):
    """Topics are missing or were made with other settings; the message names each."""


@dataclass(frozen=True)
class TopicSpec:
    """What a topic must be: its partition count (``None``: any) and settings."""

    partitions: int | None
    config: Mapping[str, str]


def specs(
    names: Iterable[str],
    *,
    partitions: int,
    ordered: set[str],
    kept: set[str],
    compacted: set[str],
) -> dict[str, TopicSpec]:
    """The specs ``ensure_topics`` creates ``names`` with (see ``streams.topics``)."""
    found = {}
    for name in names:
        if name in compacted:
            config = {"cleanup.policy": "compact"}
        elif name in kept:
            config = {"retention.ms": "-1"}
        else:
            config = {}
        found[name] = TopicSpec(1 if name in ordered else partitions, config)
    return found


def problems(client: Mapping[str, str | int], wanted: Mapping[str, TopicSpec]) -> list[str]:
    """One line per topic that is missing or differs from ``wanted``; empty when all hold."""
    admin = AdminClient(dict(client))
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
                    found.append(f"{resource.name}: expected {key}={value}, found {entry.value}")
    return found


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
    if len(missing) < len(found):
        hint.append(
            "a topic with other settings than signalfold gives it: recreate it, or change "
            "SIGNALFOLD_PARTITIONS to what the deployment was made with"
        )
    raise TopicsNotReady(f"{who} will not run: " + "; ".join(found) + ". " + "; ".join(hint))
