"""signalfold: one customer reality from marketing, sales and support signals.

The package is laid out by the flow (see ``design.md``):

- ``signalfold.schemas``  shapes: the canonical signal, state, decisions, contracts;
- ``signalfold.identity`` who is who: normalisation and the identity graph (pure);
- ``signalfold.streams``  the stages that move signals between topics;
- ``signalfold.sinks``    what leaves the pipeline: the serving store and HTTP API.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
