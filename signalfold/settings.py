"""One settings object, read once at start-up from ``SIGNALFOLD_*`` variables.

Every field is listed in the README's settings table. Secrets are ``SecretStr``
so they never reach a log line or a repr.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, SecretStr, ValidationInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Retention", "Settings", "format_retention", "parse_retention", "retention_ms"]

_DURATION = re.compile(r"(\d+)\s*([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_EXPECTED = "a whole number of hours, days or weeks (`12h`, `30d`, `52w`) or `forever`"


def parse_retention(value: object, setting: str = "retention") -> timedelta | None:
    """``30d`` → 30 days, ``forever`` → ``None`` (no time limit); else ``ValueError``.

    Minutes and months are refused on purpose: ``30m`` reads as either, and a
    history deleted after half an hour cannot be brought back.

    Example::

        parse_retention("12h")      # timedelta(hours=12)
        parse_retention("forever")  # None
    """
    if value is None or isinstance(value, timedelta):
        if isinstance(value, timedelta) and value <= timedelta(0):
            raise ValueError(f"{setting}: expected {_EXPECTED}, found {value} (not positive)")
        return value
    text = str(value).strip().lower()
    if text == "forever":
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        why = ""
        if re.fullmatch(r"-?\d+", text):
            why = " (a number without a unit)"
        elif re.fullmatch(r"\d+\s*(m|mo|min|month|months|minutes?)", text):
            why = " (minutes or months? write hours or days)"
        raise ValueError(f"{setting}: expected {_EXPECTED}, found `{value}`{why}")
    count = int(match.group(1))
    if count == 0:
        raise ValueError(
            f"{setting}: expected {_EXPECTED}, found `{value}` (zero would delete everything "
            "at once)"
        )
    return count * _UNITS[match.group(2)]


def format_retention(value: timedelta | None) -> str:
    """The inverse of ``parse_retention``, in the largest unit that divides it (``30d``)."""
    if value is None:
        return "forever"
    seconds = value.total_seconds()
    if seconds % 3600:
        return f"{seconds:g}s"  # only from code: the settings take whole hours
    hours = int(seconds // 3600)
    for unit, size in (("w", 168), ("d", 24)):
        if hours % size == 0:
            return f"{hours // size}{unit}"
    return f"{hours}h"


def retention_ms(value: timedelta | None) -> int:
    """Kafka's ``retention.ms`` for a retention: ``-1`` for ``forever``."""
    return -1 if value is None else int(value.total_seconds() * 1000)


def _retention(value: object, info: ValidationInfo) -> timedelta | None:
    return parse_retention(value, f"SIGNALFOLD_{(info.field_name or 'retention').upper()}")


# JSON carries the form people write (``30d``, ``forever``), not pydantic's ISO 8601
# ``P30D``, which the validator refuses: settings dumped to JSON for a child process
# (bench.decisions' servers) must read back.
Retention = Annotated[
    timedelta | None,
    BeforeValidator(_retention),
    PlainSerializer(format_retention, return_type=str, when_used="json"),
]
"""A retention setting: a ``timedelta``, or ``None`` for forever (``parse_retention``).

In JSON (``model_dump_json``, ``model_dump(mode="json")``) it is written as
``format_retention`` writes it, so ``Settings.model_validate_json`` reads it back.
"""


class Settings(BaseSettings):
    """Runtime configuration. Build it once and pass it in; never read env vars elsewhere."""

    model_config = SettingsConfigDict(env_prefix="SIGNALFOLD_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers. Unset: start the embedded Tansu broker.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = Field(default=None, description="e.g. PLAIN, SCRAM-SHA-512")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = None
    kafka_session_timeout_ms: int = Field(
        default=6000,
        description="Consumer group session timeout; short because Tansu waits half of it "
        "before answering JoinGroup.",
    )
    kafka_fetch_wait_ms: int | None = Field(
        default=None,
        ge=1,
        description="How long a consumer's fetch waits for data (unset: 20 ms). Tansu holds "
        "a fetch on a quiet partition for the whole wait, so on the embedded broker this "
        "bounds each hop's latency; a Kafka broker answers as soon as data arrives, and a "
        "Tansu on an object store makes every fetch a LIST, so raise it there (e.g. 250).",
    )
    embedded_port: int = Field(default=19092, description="Port of the embedded broker.")
    embedded_storage: str = Field(
        default="memory://tansu/",
        description="Where the embedded broker keeps its data: memory (gone when it exits) "
        "or an object store, s3://bucket/, with Tansu's AWS_* variables (AWS_ENDPOINT, "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_ALLOW_HTTP), "
        "which outlives a broker restart.",
    )
    topic_prefix: str = Field(default="", description="Prefix for every topic signalfold uses.")
    partitions: int = Field(default=4, ge=1, description="Partitions for topics it creates.")
    replication_factor: int = Field(default=1, ge=1)
    data_dir: Path = Field(
        default=Path(".data"),
        description="Where the serving DuckDB files and the state stage's RocksDB stores live.",
    )
    contracts_dir: Path | None = Field(
        default=None, description="Extra source contracts (*.yaml); the shipped ones always load."
    )
    policy_file: Path | None = Field(
        default=None, description="Suppression policy; unset uses the shipped default."
    )
    default_region: str = Field(default="GB", description="Region for phones without +CC.")
    identity_rules_file: Path | None = Field(
        default=None,
        description="Identity rules YAML (role mailboxes, placeholders, limits); "
        "unset uses the shipped signalfold/defaults/identity.yaml.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_replica: int | None = Field(
        default=None,
        ge=0,
        description="This process's index among `serve` processes sharing api_port "
        "(SO_REUSEPORT; Linux); unset: the port is this process's alone.",
    )
    serve_processes: int = Field(
        default=1, ge=1, description="`serve` processes `signalfold run` starts on api_port."
    )
    api_keys_file: Path | None = Field(
        default=None, description="YAML of scoped API keys (hashed); unset: open API, dev only."
    )
    pii_hash_key: SecretStr | None = Field(
        default=None,
        description="Secret of the keyed hash (HMAC-SHA256) the decision log keeps instead of "
        "each identifier; the same on every replica. Unset: a random key made once in "
        "data_dir/pii-hash.key (mode 0600).",
    )
    max_event_bytes: int = Field(default=256 * 1024, description="Larger raw events go to DLQ.")
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest HTTP request body the API reads; larger ones get 413 "
        "(a full batch of 10,000 checks naming a product is about 1.5 MB).",
    )
    ready_max_lag: int = Field(
        default=10_000,
        ge=0,
        description="A serving replica more records than this behind the topics' ends "
        "answers 503 on /v1/ready.",
    )
    ready_broker_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds without an answer from the broker after which /v1/ready is 503.",
    )
    batch_size: int = Field(default=2000, description="Max messages a stage handles at once.")
    batch_linger_ms: int = Field(default=5, description="Longest wait to fill a batch.")
    timeline_size: int = Field(default=50, description="Recent entries kept in CustomerState.")
    state_text_chars: int = Field(
        default=1_000, ge=1, description="Longest text a customer state keeps (cut with a marker)."
    )
    state_closed_tickets: int = Field(
        default=20, ge=1, description="Closed tickets a customer state keeps (open ones all stay)."
    )
    state_orders: int = Field(
        default=50, ge=1, description="Orders without a return a customer state keeps (latest)."
    )
    state_returned_orders: int = Field(
        default=50, ge=1, description="Returned orders a customer state keeps (latest)."
    )
    state_cache_customers: int = Field(
        default=10_000,
        ge=1,
        description="Customers each state partition keeps in memory; the rest are read from "
        "its RocksDB store under data_dir/state/ when a signal for them arrives.",
    )
    splink_enabled: bool = Field(
        default=True,
        description="Probabilistic matching (Splink) of every new record, as clustering evidence.",
    )
    splink_model_path: Path | None = Field(
        default=None, description="Trained Splink model JSON; unset uses the shipped model."
    )
    splink_match_probability: float = Field(
        default=0.99, gt=0, le=1, description="At or above: the records are linked."
    )
    splink_max_block: int = Field(
        default=200,
        ge=1,
        description="A blocking key already held by more stored records proposes no more "
        "candidates (a generic value); above the store's size: exactly batch Splink's pairs.",
    )
    splink_review_probability: float = Field(
        default=0.5, gt=0, le=1, description="From here to the match threshold: possible match."
    )
    retention_history: Retention = Field(
        default=None,
        description="Full history: records of signals.canonical and signals.resolved, and "
        "the serving replicas' timeline rows, older than this are deleted (forever: kept).",
    )
    retention_decisions: Retention = Field(
        default=None,
        description="The decision log: records of decisions.log and the replicas' "
        "decision_log rows older than this are deleted (forever: kept, an audit trail).",
    )
    retention_dead_letters: Retention = Field(
        default=timedelta(days=30),
        description="Dead letters and field warnings: records of signals.dlq and "
        "signals.warnings older than this are deleted and no longer inspected or replayed.",
    )
    log_level: str = "INFO"

    def kafka_client_config(self) -> dict[str, str | int]:
        """librdkafka settings shared by every producer, consumer and admin client."""
        if self.kafka_bootstrap is None:
            bootstrap = f"127.0.0.1:{self.embedded_port}"
        else:
            bootstrap = self.kafka_bootstrap
        config: dict[str, str | int] = {
            "bootstrap.servers": bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.kafka_ssl_ca_location)
        if self.kafka_fetch_wait_ms is not None:
            from signalfold.streams.kafka import FETCH_WAIT

            config[FETCH_WAIT] = self.kafka_fetch_wait_ms  # the consumers' only
        return config
