"""One settings object, read once at start-up from ``SIGNALFOLD_*`` variables.

Every field is listed in the README's settings table. Secrets are ``SecretStr``
so they never reach a log line or a repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


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
    embedded_port: int = Field(default=19092, description="Port of the embedded broker.")
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
        return config
