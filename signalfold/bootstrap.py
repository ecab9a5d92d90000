"""The composition root: the one place that builds stages, stores and the app.

Tests call these with overrides (a settings object, a clock) instead of
patching internals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from signalfold.settings import Settings, format_retention
from signalfold.streams.runner import Stage, StageRunner
from signalfold.streams.topics import Topics, ensure_topics, retention, retention_settings

if TYPE_CHECKING:
    from signalfold.identity.rules import MatchRules
    from signalfold.streams.keylog import KeyLog
    from signalfold.streams.lease import LeasedRunner
    from signalfold.streams.stages.follower import GraphFollower
    from signalfold.streams.stages.resolve import ResolveStage
    from signalfold.streams.topic_check import TopicSpec

__all__ = [
    "STAGES",
    "build_runner",
    "build_stage",
    "build_worker",
    "contracts",
    "create_topics",
    "key_log",
]

STAGES = ("ingest", "resolve", "state")

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def contracts(settings: Settings) -> dict[str, object]:
    from signalfold.schemas.contract import load_contracts

    dirs = [settings.contracts_dir] if settings.contracts_dir else []
    return dict(load_contracts(dirs))


def identity_rules(settings: Settings) -> MatchRules:
    """The identity rules file (``SIGNALFOLD_IDENTITY_RULES_FILE`` or the shipped one), parsed."""
    import yaml

    from signalfold.identity.rules import MatchRules, RulesFileError

    path = settings.identity_rules_file or Path(__file__).parent / "defaults" / "identity.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesFileError(
            f"identity rules `{path}`: cannot read the file ({exc.strerror})"
        ) from None
    except yaml.YAMLError as exc:
        raise RulesFileError(f"identity rules `{path}`: not valid YAML ({exc})") from None
    return MatchRules.from_mapping(data, file=f"identity rules `{path}`")


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


def build_stage(name: str, settings: Settings, clock: Clock = _utcnow) -> Stage:
    topics = Topics(settings.topic_prefix)
    client = settings.kafka_client_config()
    from signalfold.streams.registry import install_declared_types

    install_declared_types(settings)  # declared signal types parse in every stage
    if name == "ingest":
        from signalfold.streams.registry import ContractTail, active_contracts
        from signalfold.streams.stages.ingest import IngestStage

        return IngestStage(
            active_contracts(settings),
            topics,
            max_event_bytes=settings.max_event_bytes,
            clock=clock,
            updates=ContractTail(client, topics),
            keys=key_log(settings),
        )
    if name == "resolve":
        return _resolve(settings, clock)[0]
    if name == "state":
        from signalfold.policy import load_policy
        from signalfold.streams.stages.state import StateStage
        from signalfold.streams.state.bounds import Bounds

        return StateStage(
            topics,
            load_policy(settings.policy_file),
            client,
            timeline_size=settings.timeline_size,
            bounds=Bounds(
                text_chars=settings.state_text_chars,
                closed_tickets=settings.state_closed_tickets,
                orders=settings.state_orders,
                returned_orders=settings.state_returned_orders,
            ),
            clock=clock,
            data_dir=settings.data_dir,
            cache_customers=settings.state_cache_customers,
            keys=key_log(settings),
        )
    raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGES)}")


def _resolve(settings: Settings, clock: Clock) -> tuple[ResolveStage, GraphFollower]:
    """The resolve stage and the follower that keeps its graph current.

    The stage's graph is the follower's: on assignment the stage asks it to
    catch up (from offset 0 the first time, a rebuild; from where a standby
    left off after a takeover).
    """
    from signalfold.identity.graph import IdentityGraph
    from signalfold.identity.probabilistic import build_matcher
    from signalfold.privacy.secret import pii_hash_key
    from signalfold.schemas import Signal
    from signalfold.streams.kafka import read_to_end
    from signalfold.streams.stages.follower import GraphFollower
    from signalfold.streams.stages.resolve import ResolveStage, signals_of_records

    topics = Topics(settings.topic_prefix)
    client = settings.kafka_client_config()
    regions = {
        name: region
        for name, contract in contracts(settings).items()
        if (region := getattr(contract, "default_region", None))
    }

    def graph() -> IdentityGraph:
        matcher, rules = None, identity_rules(settings)
        if settings.splink_enabled:
            matcher = build_matcher(
                model_path=settings.splink_model_path,
                match_probability=settings.splink_match_probability,
                review_probability=settings.splink_review_probability,
                region=settings.default_region,
                max_block=settings.splink_max_block,
                rules=rules,
            )
        return IdentityGraph(
            rules,
            default_region=settings.default_region,
            regions=regions,
            clock=clock,
            matcher=matcher,
            id_key=id_key,
        )

    id_key = pii_hash_key(settings)  # customer ids are keyed: see ``customer_id_for``
    keys = key_log(settings)
    follower = GraphFollower(
        client,
        topics,
        graph,
        region=settings.default_region,
        rows=settings.splink_enabled,
        keys=keys,
    )

    def replay(records: set[str]) -> list[Signal]:
        read = lambda h: read_to_end(client, topics.canonical, h)  # noqa: E731
        return signals_of_records(read, records, keys)

    stage = ResolveStage(
        lambda: follower.graph,
        topics,
        default_region=settings.default_region,
        rebuild=lambda _graph: follower.catch_up(),
        replay=replay,
        clock=clock,
        keys=keys,
    )
    return stage, follower


def build_runner(name: str, settings: Settings, clock: Clock = _utcnow) -> StageRunner:
    return _runner(build_stage(name, settings, clock), name, settings)


def build_worker(
    name: str, settings: Settings, clock: Clock = _utcnow
) -> StageRunner | LeasedRunner:
    """What ``signalfold worker --stage <name>`` runs.

    A resolve worker contends for the lease on ``identity.lease``: the holder
    owns the graph and runs the stage; any other resolve worker is a hot
    standby that follows ``identity.changes`` and takes over when the holder's
    session ends. The other stages scale by partitions and run as they are.
    Every worker first checks the pipeline's topics (``check_topics``).
    """
    check_topics(settings, f"worker {name}")
    if name != "resolve":
        return build_runner(name, settings, clock)
    from signalfold.streams.lease import Lease, LeasedRunner

    stage, follower = _resolve(settings, clock)
    topics = Topics(settings.topic_prefix)
    lease = Lease(
        settings.kafka_client_config(),
        topics.identity_lease,
        f"{settings.topic_prefix}signalfold-resolve-lease",
        session_timeout_ms=settings.kafka_session_timeout_ms,
    )
    return LeasedRunner(
        lease, lambda: _runner(stage, name, settings, assign_all=True), follower.poll
    )


def _runner(
    stage: Stage, name: str, settings: Settings, *, assign_all: bool = False
) -> StageRunner:
    return StageRunner(
        stage,
        settings.kafka_client_config(),
        group=f"{settings.topic_prefix}signalfold-{name}",
        batch_size=settings.batch_size,
        linger_ms=settings.batch_linger_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        dlq_topic=Topics(settings.topic_prefix).dlq,
        assign_all=assign_all,
    )
