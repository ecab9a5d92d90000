"""Stages and workers: ``build_stage`` (one builder per stage), its runner, its worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from signalfold.bootstrap.topics import check_topics, contracts, key_log
from signalfold.errors import ConfigError
from signalfold.settings import Settings
from signalfold.streams.runner import Stage, StageRunner
from signalfold.streams.topics import Topics

if TYPE_CHECKING:
    from signalfold.identity.rules import MatchRules
    from signalfold.streams.lease import LeasedRunner
    from signalfold.streams.stages.follower import GraphFollower
    from signalfold.streams.stages.resolve import ResolveStage

__all__ = ["STAGES", "build_runner", "build_stage", "build_worker", "identity_rules"]

STAGES = ("ingest", "resolve", "state")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def identity_rules(settings: Settings) -> MatchRules:
    """The identity rules file (``SIGNALFOLD_IDENTITY_RULES_FILE`` or the shipped one), parsed."""
    import yaml

    from signalfold.identity.rules import MatchRules, RulesFileError

    default = Path(__file__).parent.parent / "defaults" / "identity.yaml"
    path = settings.identity_rules_file or default
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesFileError(
            f"identity rules `{path}`: cannot read the file ({exc.strerror})"
        ) from None
    except yaml.YAMLError as exc:
        raise RulesFileError(f"identity rules `{path}`: not valid YAML ({exc})") from None
    return MatchRules.from_mapping(data, file=f"identity rules `{path}`")


def build_stage(name: str, settings: Settings, clock: Clock = _utcnow) -> Stage:
    """The stage ``name`` (one of ``STAGES``), built from ``settings``."""
    builder = _BUILDERS.get(name)
    if builder is None:
        expected = ", ".join(STAGES)
        raise ConfigError(f"unknown stage {name!r}; expected one of {expected} (--stage)")
    from signalfold.streams.registry import install_declared_types

    install_declared_types(settings)  # declared signal types parse in every stage
    return builder(settings, clock)


def _ingest(settings: Settings, clock: Clock) -> Stage:
    from signalfold.streams.registry import ContractTail, active_contracts
    from signalfold.streams.stages.ingest import IngestStage

    topics = Topics(settings.topic_prefix)
    return IngestStage(
        active_contracts(settings),
        topics,
        max_event_bytes=settings.max_event_bytes,
        clock=clock,
        updates=ContractTail(settings.kafka_client_config(), topics),
        keys=key_log(settings),
    )


def _state(settings: Settings, clock: Clock) -> Stage:
    from signalfold.policy import load_policy
    from signalfold.streams.stages.state import StateStage
    from signalfold.streams.state.bounds import Bounds

    return StateStage(
        Topics(settings.topic_prefix),
        load_policy(settings.policy_file),
        settings.kafka_client_config(),
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


_BUILDERS: dict[str, Callable[[Settings, Clock], Stage]] = {
    "ingest": _ingest,
    "resolve": lambda settings, clock: _resolve(settings, clock)[0],
    "state": _state,
}
