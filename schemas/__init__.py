"""Shapes shared by every part of signalfold; the single source of truth.

JSON Schema is exported from these models (``signalfold schemas export``),
never written by hand.
"""

from __future__ import annotations

from signalfold.schemas.contract import SourceContract
from signalfold.schemas.decision import Channel, Outcome, Purpose, Reason, SuppressionDecision
from signalfold.schemas.dlq import DeadLetter
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry, LinkEvidence
from signalfold.schemas.payloads import PAYLOAD_MODELS, payload_model_for
from signalfold.schemas.resolved import Resolved
from signalfold.schemas.signal import Identifier, Signal, Traits, Trust
from signalfold.schemas.state import CustomerState, Flag

__all__ = [
    "PAYLOAD_MODELS",
    "Channel",
    "CustomerState",
    "DeadLetter",
    "Flag",
    "Identifier",
    "IdentityChange",
    "IdentityCommand",
    "IndexEntry",
    "LinkEvidence",
    "Outcome",
    "Purpose",
    "Reason",
    "Resolved",
    "Signal",
    "SourceContract",
    "SuppressionDecision",
    "Traits",
    "Trust",
    "payload_model_for",
]
