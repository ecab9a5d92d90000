"""Export JSON Schema from the models: the files are generated, never hand-written."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from signalfold.schemas.decision import SuppressionDecision
from signalfold.schemas.decision_log import LoggedDecision
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry
from signalfold.schemas.payloads import PAYLOAD_MODELS
from signalfold.schemas.resolved import Resolved
from signalfold.schemas.signal import Signal
from signalfold.schemas.state import CustomerState, SuppressionChange
from signalfold.schemas.subject_access import SubjectAccessExport

__all__ = ["export_json_schemas", "exported_models"]


def exported_models() -> dict[str, type[BaseModel]]:
    """Every published model by file stem, payloads included."""
    models: dict[str, type[BaseModel]] = {
        "signal": Signal,
        "customer_state": CustomerState,
        "suppression_decision": SuppressionDecision,
        "suppression_change": SuppressionChange,
        "identity_change": IdentityChange,
        "identity_index_entry": IndexEntry,
        "identity_command": IdentityCommand,
        "resolved": Resolved,
        "decision_log_entry": LoggedDecision,
        "subject_access_export": SubjectAccessExport,
    }
    for signal_type, model in sorted(PAYLOAD_MODELS.items()):
        models[f"payload.{signal_type}"] = model
    return models


def export_json_schemas(out: Path) -> list[Path]:
    """Write one ``<name>.schema.json`` per model into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in exported_models().items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
