"""Sample raw events from a file, for ``sources test`` and ``sources dry-run``.

A sample is JSON lines (one raw event a line, as a source team logs its
webhooks) or one JSON array of raw events (as an API export often is). Each
event is kept as the bytes ingest would read off the topic: a line as it is
(so a malformed line is mapped, and refused, exactly like a malformed record),
an array item re-encoded as compact JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from signalfold.errors import ConfigError

__all__ = ["read_sample"]


def read_sample(path: str) -> list[tuple[str, bytes]]:
    """``(where, raw)`` for every event in ``path``: where is ``file:line`` or ``file[index]``.

    Raises ``ConfigError`` when the file cannot be read, or starts like a JSON
    array but is not one.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"sample `{path}`: expected a readable file, found {exc.strerror}"
        ) from None
    if data.lstrip().startswith(b"["):
        try:
            items = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(
                f"sample `{path}`: starts with `[` so expected one JSON array of raw events, "
                f"found invalid JSON ({exc}); give one JSON object a line instead"
            ) from None
        if isinstance(items, list):
            return [
                (f"{path}[{i}]", json.dumps(item, ensure_ascii=False).encode())
                for i, item in enumerate(items)
            ]
    return [
        (f"{path}:{number}", line)
        for number, line in enumerate(data.splitlines(), start=1)
        if line.strip()
    ]
