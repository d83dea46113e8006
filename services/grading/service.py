"""Grading: keeps each unit's decision true under its province's pack as events, requests and days pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, insert_at_commit, utcnow
from services.common.events import (
    CLASS_CHANGED,
    ESCALATED,
    TIER_ASSIGNED,
    ClassChanged,
    ClassReason,
    Escalated,
    TierAssigned,
)
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.policy import CLASS_NAMES, Pack, PackSet
from services.grading import repository
from services.grading.decide import Decision, ManualDecision, Reason, Signal, Size, decide
from services.grading.models import (
    AnnualListEntry,
    DecisionHistory,
    GradedEnterprise,
    RiskSignal,
)
from services.grading.models import ManualDecision as ManualDecisionRow
from services.grading.tiering import TIER_NAMES

LISTED_CLASSES = ("key", "special")

Unit = GradedEnterprise | repository.UnitRow
"""A unit's stored state: the ORM row (a request's one unit) or the plain row (a batch's thousands)."""


# ---------------------------------------------------------------------------------------------- decisions


def _reasons(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [{"rule": r.rule, "text": r.text, "basis": r.basis, "evidence": list(r.evidence)} for r in reasons]


def _event_reasons(reasons: Sequence[Reason]) -> list[ClassReason]:
    return [ClassReason(rule=r.rule, text=r.text, evidence=list(r.evidence)) for r in reasons]


def decision_document(decision: Decision, pack: Pack) -> dict[str, Any]:
    """The decision as stored and shown: every field as data, and a one-paragraph explanation in Chinese."""
    tier = decision.tier
    parts = []
    if tier is not None:
        parts.append(f"{tier.reason}；由{decision.responsible_level_title}负责监管")
    else:
        parts.append("规模数据不全，暂未分级")
    parts.append(f"监管类别：{CLASS_NAMES[decision.supervision_class]}（{decision.class_text}）")
    if decision.escalated:
        parts.append("上一级监管或挂牌督办：" + "；".join(r.text for r in decision.escalation_reasons))
    if decision.locked:
        parts.append("建档锁定：" + "；".join(r.text for r in decision.lock_reasons))
    return {
        "pack": decision.pack,
        "pack_version": decision.pack_version,
        "pack_title": pack.title,
        "tier": tier.tier if tier else None,
        "tier_name": TIER_NAMES[tier.tier] if tier else None,
        "tier_rule": tier.rule if tier else None,
        "tier_reason": tier.reason if tier else None,
        "responsible_level": decision.responsible_level,
        "responsible_level_title": decision.responsible_level_title,
        "responsible_region": decision.responsible_region,
        "supervision_class": decision.supervision_class,
        "supervision_class_name": CLASS_NAMES[decision.supervision_class],
        "class_source": decision.class_source,
        "automatic_class": decision.automatic_class,
        "reasons": _reasons(decision.reasons),
        "escalated": decision.escalated,
        "escalation_reasons": _reasons(decision.escalation_reasons),
        "locked": decision.locked,
        "lock_reasons": _reasons(decision.lock_reasons),
        "visit_every_months": decision.visit_every_months,
        "manual_decision_id": decision.manual_id,
        "overturned_signals": list(decision.overturned),
        "explanation": "。".join(parts) + "。",
    }


def as_signal(row: RiskSignal) -> Signal:
    return Signal(row.id, row.kind, row.occurred_on, row.heavier, row.credit_class, row.ref)


def as_manual(row: ManualDecisionRow | None) -> ManualDecision | None:
    if row is None:
        return None
    return ManualDecision(
        row.id, row.supervision_class, row.reason, row.decided_on, row.expires_on, row.decided_by
    )


def size_of(row: Unit) -> Size | None:
    if row.kind is None or row.employees is None or row.revenue_wan_yuan is None:
        return None
    if row.kind == "sales" and row.sales_channel is None:
        return None
    return Size(row.kind, row.sales_channel, row.employees, row.revenue_wan_yuan)


def evaluate(
    packs: PackSet,
    row: Unit,
    signals: Sequence[RiskSignal | Signal],
    manual: ManualDecisionRow | None,
    *,
    today: date,
    pack: Pack | None = None,
    extra: Sequence[Signal] = (),
) -> Decision:
    """The decision for a stored unit; ``pack`` and ``extra`` signals serve the what-if endpoint."""
    return decide(
        pack or packs.for_region(row.region_code),
        region_code=row.region_code,
        size=size_of(row),
        signals=[*(s if isinstance(s, Signal) else as_signal(s) for s in signals), *extra],
        manual=as_manual(manual),
        released_on=row.released_on,
        today=today,
    )


async def refresh(
    session: AsyncSession,
    packs: PackSet,
    row: Unit,
    *,
    today: date,
    cause: str,
    cause_id: str | None = None,
) -> Decision:
    signals = await repository.signals_of(session, row.enterprise_id)
    manual = await repository.active_manual(session, row.enterprise_id, today)
    decision = evaluate(packs, row, signals, manual, today=today)
    store(session, packs, row, decision, today=today, cause=cause, cause_id=cause_id)
    listed = await repository.listed_in(session, today.year, [row.enterprise_id])
    frozen = await repository.is_frozen(session, today.year)
    list_annually(session, row, today=today, listed=listed, frozen=frozen)
    return decision


def _assign(row: Unit, **values: Any) -> None:
    """Set the fields that change: a SQLModel attribute set costs far more than a read, and a unit's batch of
    events changes few of them."""
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def store(
    session: AsyncSession,
    packs: PackSet,
    row: Unit,
    decision: Decision,
    *,
    today: date,
    cause: str,
    cause_id: str | None = None,
) -> bool:
    """Write the decision on the unit; on any change keep history and announce it. True if it changed."""
    pack = packs.packs[decision.pack]
    document = decision_document(decision, pack)
    encoded = json.dumps(document, ensure_ascii=False, sort_keys=True)
    if encoded == row.decision:
        return False
    tier = decision.tier
    previous_tier, previous_class, previous_locked = row.tier, row.supervision_class, row.locked
    previous_escalated, previous_level = row.escalated, row.responsible_level
    _assign(
        row,
        tier=tier.tier if tier else None,
        tier_rule=tier.rule if tier else None,
        tier_reason=tier.reason if tier else None,
        supervision_class=decision.supervision_class,
        class_rule=decision.class_rule,
        class_reason=decision.class_text,
        class_evidence=json.dumps(decision.evidence),
        class_source=decision.class_source,
        automatic_class=decision.automatic_class,
        responsible_level=decision.responsible_level,
        responsible_region=decision.responsible_region,
        escalated=decision.escalated,
        locked=decision.locked,
        pack=decision.pack,
        pack_version=decision.pack_version,
        decision=encoded,
        updated_at=utcnow(),
    )
    if decision.released:
        row.released_on = today
    history = {
        "id": new_id(),
        "enterprise_id": row.enterprise_id,
        "decided_at": row.updated_at,
        "cause": cause,
        "cause_id": cause_id,
        "tier": row.tier,
        "supervision_class": row.supervision_class,
        "class_source": row.class_source,
        "responsible_level": row.responsible_level,
        "escalated": row.escalated,
        "locked": row.locked,
        "pack": decision.pack,
        "pack_version": decision.pack_version,
        "decision": encoded,
    }
    insert_at_commit(session, DecisionHistory.__table__, history)  # type: ignore[arg-type]
    where = {"region": row.region_code, "enterprise_id": row.enterprise_id}
    if tier is not None and previous_tier != tier.tier:
        emit(
            session,
            TIER_ASSIGNED,
            TierAssigned(
                enterprise_id=row.enterprise_id,
                tier=tier.tier,  # type: ignore[arg-type]
                previous_tier=previous_tier,  # type: ignore[arg-type]
                rule=tier.rule,
                reason=tier.reason,
            ),
            **where,
        )
    if (previous_class, previous_locked) != (decision.supervision_class, decision.locked):
        emit(
            session,
            CLASS_CHANGED,
            ClassChanged(
                enterprise_id=row.enterprise_id,
                from_class=previous_class,  # type: ignore[arg-type]
                to_class=decision.supervision_class,  # type: ignore[arg-type]
                reasons=_event_reasons(decision.reasons),
                source=decision.class_source,  # type: ignore[arg-type]
                locked=decision.locked,
                visit_every_months=decision.visit_every_months,
                pack=decision.pack,
                pack_version=decision.pack_version,
            ),
            **where,
        )
    if decision.responsible_level and (
        previous_escalated != decision.escalated
        or (decision.escalated and previous_level != decision.responsible_level)
    ):
        emit(
            session,
            ESCALATED,
            Escalated(
                enterprise_id=row.enterprise_id,
                escalated=decision.escalated,
                responsible_level=decision.responsible_level,
                responsible_region=decision.responsible_region or row.region_code,
                reasons=_event_reasons(decision.escalation_reasons),
                pack=decision.pack,
                pack_version=decision.pack_version,
            ),
            **where,
        )
    return True


def list_annually(
    session: AsyncSession, row: Unit, *, today: date, listed: set[tuple[str, str]], frozen: bool
) -> None:
    """年度名单: a unit under key or special supervision on any day of a year is on that year's list, once
    per class; ``listed`` holds the (class, unit) pairs on this year's lists (and gains this one)."""
    if frozen or row.supervision_class not in LISTED_CLASSES or row.kind is None:
        return
    if (row.supervision_class, row.enterprise_id) in listed:
        return
    listed.add((row.supervision_class, row.enterprise_id))
    entry = {
        "year": today.year,
        "supervision_class": row.supervision_class,
        "enterprise_id": row.enterprise_id,
        "kind": row.kind,
        "region_code": row.region_code,
        "name": row.name,
        "listed_on": today,
        "rule": row.class_rule,
        "reason": row.class_reason,
    }
    insert_at_commit(session, AnnualListEntry.__table__, entry)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ daily recompute


async def recompute(
    db: Database,
    packs: PackSet,
    *,
    today: date,
    full: bool = True,
    batch: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Decide units again (windows lapse, manual decisions expire, packs change); write only changes.

    ``full`` decides every unit, as after a pack change; otherwise only units whose decision can move with
    the calendar: those with signals, manual decisions, or a class, escalation or lock to lapse. Each batch
    commits on its own, so a recompute cut short resumes harmlessly at the next run. Each batch is read in
    one query per table (units as plain rows), decided in memory and written in one statement per table;
    ``progress`` hears (units seen, units changed) after each.
    """
    seen = changed = 0
    after = ""
    async with db.session() as session:
        frozen = await repository.is_frozen(session, today.year)
    while True:
        async with db.transaction() as session:
            rows = await repository.page_of_units(session, after=after, limit=batch, due_only=not full)
            if not rows:
                break
            ids = [row.enterprise_id for row in rows]
            signals = await repository.signals_for(session, ids)
            manual = await repository.active_manual_for(session, ids, today)
            listed = await repository.listed_in(session, today.year, ids)
            moved = []
            for row in rows:
                decision = evaluate(
                    packs, row, signals.get(row.enterprise_id, ()), manual.get(row.enterprise_id), today=today
                )
                if store(session, packs, row, decision, today=today, cause="recompute"):
                    moved.append(row)
                list_annually(session, row, today=today, listed=listed, frozen=frozen)
            await repository.write_units(session, moved)
            changed += len(moved)
            seen += len(rows)
            after = ids[-1]
            if progress is not None:
                progress(seen, changed)
    async with db.transaction() as session:
        await repository.freeze_years_before(session, today.year, at=utcnow())
    return {"units": seen, "changed": changed}


def expires_ok(pack: Pack, *, today: date, expires_on: date) -> bool:
    return today < expires_on <= today + timedelta(days=pack.manual.max_days)
