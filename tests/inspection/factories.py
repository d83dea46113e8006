"""Small factories of inspection test data."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.common.ids import new_id
from services.inspection.models import KnownEnterprise
from tests.harness import make_uscc


async def add_unit(app: FastAPI, n: int, region: str = "141121", **fields: Any) -> KnownEnterprise:
    """A unit as inspection would have learnt it from registry's event (a producer unless told)."""
    row = KnownEnterprise(
        id=new_id(),
        region_code=region,
        name=f"测试单位{n}",
        kind=fields.pop("kind", "production"),
        uscc=make_uscc(n, region),
        **fields,
    )
    async with app.state.db.transaction() as session:
        session.add(row)
    return row
