"""Failure injection for crash tests: ``QSR_FAILPOINTS="inbox.after_commit=exit"`` makes the process die there.

Empty in real use; the crash tests set it on a real service process to kill it mid-flight.
"""

from __future__ import annotations

import os


def _parse(spec: str) -> dict[str, str]:
    points: dict[str, str] = {}
    for part in spec.split(","):
        name, _, action = part.strip().partition("=")
        if name:
            points[name] = action or "exit"
    return points


_POINTS = _parse(os.environ.get("QSR_FAILPOINTS", ""))


def hit(name: str) -> None:
    """Act on the failpoint ``name`` if it is armed: ``exit`` ends the process at once, as a crash would."""
    if _POINTS.get(name) == "exit":
        os._exit(75)
