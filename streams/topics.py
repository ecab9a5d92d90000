"""Topic names and their creation. Names follow design.md; a prefix isolates deployments."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from signalfold.settings import Settings, retention_ms
from signalfold.streams.kafka import admin as make_admin

if TYPE_CHECKING:
    from signalfold.schemas import IdentityCommand
    from signalfold.streams.keylog import KeyLog

__all__ = [
    "COMMAND_KEY",
    "Topics",
    "command_record",
    "ensure_topics",
    "retention",
    "retention_settings",
    "topic_config",
]

log = logging.getLogger(__name__)

#: Every identity command has this key, so all land on one partition and run in
#: the order operators sent them (a split before the pin that refers to it).
COMMAND_KEY = b"identity"


@dataclass(frozen=True)
class Topics:
    """Every topic signalfold reads or writes, with the deployment's prefix applied."""

    prefix: str = ""

    def raw(self, source: str) -> str:
        return f"{self.prefix}signals.raw.{source}"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}signals.dlq"

    @property
    def warnings(self) -> str:
        """Optional traits ingest dropped from mapped events (key: signal id; no values)."""
        return f"{self.prefix}signals.warnings"

    @property
    def canonical(self) -> str:
        return f"{self.prefix}signals.canonical"

    @property
    def resolved(self) -> str:
        return f"{self.prefix}signals.resolved"

    @property
    def identity_changes(self) -> str:
        return f"{self.prefix}identity.changes"

    @property
    def identity_index(self) -> str:
        return f"{self.prefix}identity.index"

    @property
    def identity_commands(self) -> str:
        """Operator commands (split, pin) for the resolve stage (key: command id)."""
        return f"{self.prefix}identity.commands"

    @property
    def identity_lease(self) -> str:
        """The resolve owner's lease: whoever its group assigns partition 0 owns the graph.

        It carries no records (see ``streams/lease.py``); one partition, so one holder.
        """
        return f"{self.prefix}identity.lease"

    @property
    def customer_state(self) -> str:
        return f"{self.prefix}customer.state"

    @property
    def suppression_changes(self) -> str:
        return f"{self.prefix}suppression.changes"

    @property
    def decisions_log(self) -> str:
        """Every answer the API gave (key: customer id), from every serving replica."""
        return f"{self.prefix}decisions.log"

    @property
    def contracts(self) -> str:
        """Registered source contracts (key: source name; compacted, latest wins)."""
        return f"{self.prefix}signalfold.contracts"

    @property
    def privacy_keys(self) -> str:
        """Every subject's key versions (``streams/keylog.py``; compacted, one partition)."""
        return f"{self.prefix}privacy.keys"

    @property
    def erasures(self) -> str:
        """Erasure requests, applied by resolve and, through it, by every stage and replica."""
        return f"{self.prefix}privacy.erasures"

    @property
    def do_not_contact(self) -> str:
        """Keyed hashes of erased people's identifiers, held for marketing (compacted)."""
        return f"{self.prefix}privacy.do_not_contact"

    def ordered(self) -> set[str]:
        """Logs read back in publication order: one partition each, so order is total.

        The identity graph is rebuilt by applying ``identity.changes`` in the order the
        resolver published them; spread over partitions that order would be lost.
        """
        return {
            self.identity_changes,
            self.identity_commands,
            self.identity_lease,
            self.contracts,
            self.privacy_keys,
            self.erasures,
        }

    def kept(self) -> set[str]:
        """Logs replayed from the start by rebuilds: kept forever (no time retention).

        ``decisions.log`` is the audit trail of what callers were told: it
        cannot be recomputed from anything else.
        """
        return {
            self.identity_changes,
            self.identity_commands,
            self.canonical,
            self.resolved,
            self.decisions_log,
            self.erasures,
        }

    def compacted(self) -> set[str]:
        return {
            self.identity_index,
            self.customer_state,
            self.contracts,
            self.privacy_keys,
            self.do_not_contact,
        }

    def pipeline(self) -> list[str]:
        return [
            self.dlq,
            self.warnings,
            self.canonical,
            self.resolved,
            self.identity_changes,
            self.identity_index,
            self.identity_commands,
            self.identity_lease,
            self.customer_state,
            self.suppression_changes,
            self.contracts,
            self.decisions_log,
            self.privacy_keys,
            self.erasures,
            self.do_not_contact,
        ]


def retention_settings(topics: Topics) -> dict[str, str]:
    """The topics whose time retention is a setting, each with its setting's name.

    Full history (``signals.canonical``, ``signals.resolved``), the decision
    log and the dead letters are data classes an operator bounds; every other
    kept log (``identity.changes`` above all: the graph's only source) stays
    kept forever whatever the settings say.
    """
    return {
        topics.canonical: "SIGNALFOLD_RETENTION_HISTORY",
        topics.resolved: "SIGNALFOLD_RETENTION_HISTORY",
        topics.decisions_log: "SIGNALFOLD_RETENTION_DECISIONS",
        topics.dlq: "SIGNALFOLD_RETENTION_DEAD_LETTERS",
        topics.warnings: "SIGNALFOLD_RETENTION_DEAD_LETTERS",
    }


def retention(topics: Topics, settings: Settings) -> dict[str, int]:
    """``retention.ms`` of each topic of ``retention_settings`` (``-1``: forever)."""
    return {
        name: retention_ms(getattr(settings, setting.removeprefix("SIGNALFOLD_").lower()))
        for name, setting in retention_settings(topics).items()
    }


def topic_config(
    name: str,
    compacted: set[str] | frozenset[str],
    kept: set[str] | frozenset[str],
    retained: Mapping[str, int],
) -> dict[str, str]:
    """The config ``ensure_topics`` creates topic ``name`` with (empty: the broker's defaults).

    Compacted topics are compacted; a topic of ``retained`` (``retention``) gets its
    setting's ``retention.ms``; any other ``kept`` topic is kept forever.
    """
    if name in compacted:
        return {"cleanup.policy": "compact"}
    if name in retained:  # a data class: the operator's setting, over ``kept``
        return {"retention.ms": str(retained[name]), "retention.bytes": "-1"}
    if name in kept:
        # Rebuilds replay these from offset 0: a retention limit would lose state.
        return {"retention.ms": "-1", "retention.bytes": "-1"}
    return {}


def ensure_topics(
    client_config: dict[str, str | int],
    names: list[str],
    partitions: int,
    replication: int = 1,
    compacted: set[str] | frozenset[str] = frozenset(),
    ordered: set[str] | frozenset[str] = frozenset(),
    kept: set[str] | frozenset[str] = frozenset(),
    retained: Mapping[str, int] | None = None,
) -> None:
    """Create the topics that do not exist yet; existing ones are left alone.

    Topics in ``ordered`` get one partition whatever ``partitions`` says.
    ``retained`` maps a topic to its ``retention.ms`` (``retention(topics,
    settings)``), which wins over ``kept``; without it a kept topic is kept forever.
    """
    admin = make_admin(client_config)
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(
            name,
            num_partitions=1 if name in ordered else partitions,
            replication_factor=replication,
            config=topic_config(name, compacted, kept, retained or {}),
        )
        for name in names
        if name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=10).items():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        log.info("created topic %s", name)


def command_record(
    topics: Topics, command: IdentityCommand, keys: KeyLog | None = None
) -> tuple[str, bytes, bytes]:
    """The record (topic, key, value) that asks the resolve stage to run ``command``.

    With ``keys``, the records it names (often emails) are sealed with their keys;
    publish the key log before the record.
    """
    body = command.model_dump_json().encode()
    if keys is not None:
        body = keys.seal_records(command.records, body)
    return topics.identity_commands, COMMAND_KEY, body
