"""Failure injection for crash tests: ``QSR_FAILPOINTS="inbox.after_commit=exit"`` makes the process die there;
``=raise`` makes the code there fail with an unexpected exception instead (a bug, a lost connection).

Empty in real use; the crash tests set it on a real service process to kill it mid-flight, the error tests to
see what a caller gets from a failure nobody foresaw. Production never obeys it (``qsr up`` refuses to start
with it set there, and a process started otherwise ignores it), so a stray variable cannot crash a province.
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


_POINTS = {} if os.environ.get("QSR_ENV") == "production" else _parse(os.environ.get("QSR_FAILPOINTS", ""))


class FailpointError(RuntimeError):
    """Raised at an armed ``raise`` failpoint."""


def hit(name: str) -> None:
    """Act on the failpoint ``name`` if it is armed: ``exit`` ends the process at once, as a crash would;
    ``raise`` raises FailpointError."""
    action = _POINTS.get(name)
    if action == "exit":
        os._exit(75)
    if action == "raise":
        raise FailpointError(f"failpoint {name}")
