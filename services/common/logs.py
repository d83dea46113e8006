"""Where a process's own lines go. uvicorn configures only its loggers, so without this every ``qsr.*`` line
below WARNING (a migration done, a consumer kept, the documents fetched) was dropped, and warnings came
without time or origin. Each process writes to standard error, which ``qsr up`` keeps in ``var/logs``."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure() -> None:
    """``qsr.*`` at INFO, everything else at WARNING (httpx would log every proxied request at INFO). A no-op
    for the root handler when one is set already (under pytest, or an operator's own configuration)."""
    logging.basicConfig(level=logging.WARNING, format=FORMAT)
    logging.getLogger("qsr").setLevel(logging.INFO)
