"""变更记录: every change to a unit or its managers, with who, when, what and why."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import utcnow
from services.common.ids import new_id
from services.registry.models import AuditEntry

# Fields whose values never go into the audit trail (encrypted personal data): only that they changed.
_REDACTED = "（已变更，内容受保护）"


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs (fields ending in ``_enc`` redacted)."""
    changes: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            if key.endswith("_enc"):
                changes[key.removesuffix("_enc")] = [None, _REDACTED]
            else:
                changes[key] = [_plain(old), _plain(new)]
    return changes


def record(
    session: AsyncSession,
    caller: Caller | None,
    *,
    enterprise_id: str,
    entity: str,
    entity_id: str,
    action: str,
    changes: Mapping[str, Any] | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Add one audit entry to the caller's transaction (``caller`` None: an event applied by the system)."""
    entry = AuditEntry(
        id=new_id(),
        enterprise_id=enterprise_id,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor=actor or (caller.username if caller else "system"),
        actor_role=caller.role if caller else "system",
        at=utcnow(),
        changes=json.dumps(dict(changes or {}), ensure_ascii=False, default=str),
        reason=reason,
    )
    session.add(entry)
    return entry
