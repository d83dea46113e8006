"""The import's bulk writing: one outbox event and one audit entry per unit entered, none for a re-import;
a unit entered by someone else while a chunk is written sends the chunk down the row-by-row path; the
vault's batch sealing makes tokens its ``open`` reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from services.common.events import ENTERPRISE_REGISTERED, CloudEvent
from services.common.messaging import OutboxMessage
from services.common.settings import Settings
from services.registry import pii, transfer
from services.registry.app import create_app
from services.registry.models import AuditEntry, Enterprise
from services.registry.transfer import repository
from tests.harness import WENSHUI, eventually, make_uscc, serving
from tests.registry.test_transfer import all_published, as_csv, count, sheet_row, upload

pytestmark = pytest.mark.asyncio

UNITS = 1_200


@pytest.mark.parametrize("reader", ["thread", "process"])
async def test_a_large_import_puts_one_registered_event_per_unit_in_the_outbox_and_a_reimport_none(
    settings: Settings, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reader == "process":
        monkeypatch.setattr(transfer, "PROCESS_READ_MIN_BYTES", 0)
    content = as_csv([sheet_row(make_uscc(serial), 主要负责人电话="") for serial in range(1, UNITS + 1)])
    app = create_app(settings)
    async with serving(app) as client:
        response = await upload(client, settings, WENSHUI, content, "台账.csv")
        assert response.status_code == 201, response.text
        assert (response.json()["created"], response.json()["rejected"]) == (UNITS, 0)

        async with app.state.db.session() as session:
            units = {e.id: e for e in (await session.execute(select(Enterprise))).scalars()}
            outbox = (await session.execute(select(OutboxMessage))).scalars().all()
            audit = (await session.execute(select(AuditEntry))).scalars().all()
        assert len(units) == UNITS
        assert all(unit.principal_phone_enc is None for unit in units.values())  # none given, none sealed
        assert [m.type for m in outbox] == [ENTERPRISE_REGISTERED.type] * UNITS
        events = [CloudEvent.model_validate_json(m.body) for m in outbox]
        assert sorted(e.enterpriseid or "" for e in events) == sorted(units)
        assert len({m.event_id for m in outbox}) == UNITS
        assert [m.event_id for m in outbox] == [e.id for e in events]
        assert all(e.data["uscc"] == units[e.enterpriseid or ""].uscc for e in events)
        assert sorted(a.enterprise_id for a in audit) == sorted(units)
        assert {a.action for a in audit} == {"registered"}
        assert json.loads(audit[0].changes)["entry_path"] == [None, "import"]
        await eventually(lambda: all_published(app))

        again = await upload(client, settings, WENSHUI, content, "台账.csv")
        assert again.status_code == 201, again.text
        assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, UNITS)
        assert await count(app, OutboxMessage) == UNITS
        assert await count(app, AuditEntry) == UNITS


async def test_units_entered_meanwhile_send_the_chunk_down_the_row_by_row_path(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk planned without seeing units that are in the ledger (as if entered just after it was read)
    fails to write them (PostgreSQL's merge skips them, SQLite's insert hits the unique USCC), so the chunk is
    rolled back and each row redone alone: the known units come out unchanged, the new one entered once."""
    known = [sheet_row(make_uscc(serial)) for serial in (1, 2)]
    app = create_app(settings)
    async with serving(app) as client:
        first = await upload(client, settings, WENSHUI, as_csv(known), "台账.csv")
        assert first.json()["created"] == 2

        looked_up = repository.stored

        async def blind_to_whole_chunks(session: Any, usccs: Any, *, lock: bool) -> repository.Stored:
            return repository.Stored() if len(usccs) > 1 else await looked_up(session, usccs, lock=lock)

        monkeypatch.setattr(repository, "stored", blind_to_whole_chunks)
        rows = [*known, sheet_row(make_uscc(3))]
        job = (await upload(client, settings, WENSHUI, as_csv(rows), "台账.csv")).json()
        assert (job["created"], job["updated"], job["unchanged"], job["rejected"]) == (1, 0, 2, 0)
        assert await count(app, Enterprise) == 3
        assert await count(app, OutboxMessage) == 3
        assert await count(app, AuditEntry) == 3


async def test_batch_sealing_makes_fernet_tokens_that_open() -> None:
    vault = pii.vault(Settings(env="development"))
    values = [f"139{serial:08d}" for serial in range(50)] + ["", "0358-1234567", "x" * 16, "电话" * 9]
    tokens = vault.seal_many(values)
    assert [vault.open(token) for token in tokens] == values
    assert len(set(tokens)) == len(tokens)  # a random IV each
    assert vault.seal_many([]) == []
