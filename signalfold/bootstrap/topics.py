"""What every part shares: the pipeline's topics, the source contracts, the key log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from signalfold.settings import Settings, format_retention
from signalfold.streams.topics import Topics, ensure_topics, retention, retention_settings

if TYPE_CHECKING:
    from signalfold.streams.keylog import KeyLog
    from signalfold.streams.topic_check import TopicSpec

__all__ = ["check_topics", "contracts", "create_topics", "key_log"]

log = logging.getLogger(__name__)


def contracts(settings: Settings) -> dict[str, object]:
    """The source contracts: the shipped ones and those in ``SIGNALFOLD_CONTRACTS_DIR``."""
    from signalfold.schemas.contract import load_contracts

    dirs = [settings.contracts_dir] if settings.contracts_dir else []
    return dict(load_contracts(dirs))


def create_topics(settings: Settings) -> Topics:
    """Create every topic the pipeline and the configured sources use, then check them.

    Topics that already existed are left as they are, except that the data
    classes' retention (``SIGNALFOLD_RETENTION_*``) is set from the settings; so
    the check refuses (``TopicsNotReady``, naming each difference) one made with
    other partitions or a kept log given a retention.
    """
    from signalfold.streams.topic_check import align_retention

    topics = Topics(settings.topic_prefix)
    raw = [topics.raw(name) for name in contracts(settings)]
    ensure_topics(
        settings.kafka_client_config(),
        topics.pipeline() + raw,
        settings.partitions,
        settings.replication_factor,
        compacted=topics.compacted(),
        ordered=topics.ordered(),
        kept=topics.kept(),
        retained=retention(topics, settings),
    )
    align_retention(settings.kafka_client_config(), _specs(settings, topics))
    if settings.retention_history is not None:
        log.warning(
            "full history is kept %s (SIGNALFOLD_RETENTION_HISTORY): a state partition "
            "rebuilt without its store folds only the signals left (docs/privacy.md)",
            format_retention(settings.retention_history),
        )
    check_topics(settings, "signalfold")
    return topics


def _specs(settings: Settings, topics: Topics) -> dict[str, TopicSpec]:
    from signalfold.streams.topic_check import specs

    return specs(
        topics.pipeline(),
        partitions=settings.partitions,
        ordered=topics.ordered(),
        kept=topics.kept(),
        compacted=topics.compacted(),
        retained=retention(topics, settings),
        settings_of=retention_settings(topics),
    )


def check_topics(settings: Settings, who: str) -> None:
    """Refuse to run unless every pipeline topic exists as ``create_topics`` makes it."""
    from signalfold.streams.topic_check import require

    topics = Topics(settings.topic_prefix)
    require(settings.kafka_client_config(), _specs(settings, topics), who)


def key_log(settings: Settings) -> KeyLog:
    """This process's view of ``privacy.keys``: what it seals and opens values with."""
    from signalfold.privacy.sealing import SubjectIds
    from signalfold.privacy.secret import pii_hash_key
    from signalfold.streams.keylog import KeyLog

    topics = Topics(settings.topic_prefix)
    ids = SubjectIds(pii_hash_key(settings))
    return KeyLog(settings.kafka_client_config(), topics.privacy_keys, ids)
