"""Who is who: identifier normalisation, the identity graph, merge protection.

Pure library code — no Kafka, no I/O. ``streams`` feeds it signals and
publishes what it returns.
"""

from __future__ import annotations

from signalfold.identity.errors import IdentityError, InvalidIdentifier
from signalfold.identity.graph import IdentityGraph
from signalfold.identity.matching import GraphView, Match, Matcher, NoMatcher
from signalfold.identity.normalize import (
    NormalizedId,
    fold_company,
    fold_name,
    fold_text,
    normalize_email,
    normalize_identifier,
    normalize_phone,
)
from signalfold.identity.resolution import Resolution, customer_id_for
from signalfold.identity.rules import MatchRules

__all__ = [
    "GraphView",
    "IdentityError",
    "IdentityGraph",
    "InvalidIdentifier",
    "Match",
    "MatchRules",
    "Matcher",
    "NoMatcher",
    "NormalizedId",
    "Resolution",
    "customer_id_for",
    "fold_company",
    "fold_name",
    "fold_text",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
]
