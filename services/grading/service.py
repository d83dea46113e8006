"""Grading: keeps each unit's decision true under its province's pack as events, requests and days pass."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, as_utc, today_cn, utcnow
from services.common.events import (
    CLASS_CHANGED,
    ESCALATED,
    TIER_ASSIGNED,
    CaseClosed,
    ClassChanged,
    ClassReason,
    CloudEvent,
    ComplaintVerified,
    CreditRiskAssessed,
    EnterpriseRegistered,
    Escalated,
    SpotCheckOverturned,
    SpotCheckRecorded,
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


# ---------------------------------------------------------------------------------------------- decisions


def _reasons(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [{**asdict(r), "evidence": list(r.evidence)} for r in reasons]


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


def size_of(row: GradedEnterprise) -> Size | None:
    if row.kind is None or row.employees is None or row.revenue_wan_yuan is None:
        return None
    if row.kind == "sales" and row.sales_channel is None:
        return None
    return Size(row.kind, row.sales_channel, row.employees, row.revenue_wan_yuan)


def evaluate(
    packs: PackSet,
    row: GradedEnterprise,
    signals: Sequence[RiskSignal],
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
        signals=[*(as_signal(s) for s in signals), *extra],
        manual=as_manual(manual),
        released_on=row.released_on,
        today=today,
    )


async def refresh(
    session: AsyncSession,
    packs: PackSet,
    row: GradedEnterprise,
    *,
    today: date,
    cause: str,
    cause_id: str | None = None,
) -> Decision:
    signals = await repository.signals_of(session, row.enterprise_id)
    manual = await repository.active_manual(session, row.enterprise_id, today)
    decision = evaluate(packs, row, signals, manual, today=today)
    store(session, packs, row, decision, today=today, cause=cause, cause_id=cause_id)
    await list_annually(session, row, today=today)
    return decision


def store(
    session: AsyncSession,
    packs: PackSet,
    row: GradedEnterprise,
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
    row.tier = tier.tier if tier else None
    row.tier_rule, row.tier_reason = (tier.rule, tier.reason) if tier else (None, None)
    row.supervision_class = decision.supervision_class
    row.class_rule, row.class_reason = decision.class_rule, decision.class_text
    row.class_evidence = json.dumps(decision.evidence)
    row.class_source, row.automatic_class = decision.class_source, decision.automatic_class
    row.responsible_level, row.responsible_region = decision.responsible_level, decision.responsible_region
    row.escalated, row.locked = decision.escalated, decision.locked
    row.pack, row.pack_version = decision.pack, decision.pack_version
    row.decision = encoded
    if decision.released:
        row.released_on = today
    row.updated_at = utcnow()
    session.add(
        DecisionHistory(
            id=new_id(),
            enterprise_id=row.enterprise_id,
            decided_at=row.updated_at,
            cause=cause,
            cause_id=cause_id,
            tier=row.tier,
            supervision_class=row.supervision_class,
            class_source=row.class_source,
            responsible_level=row.responsible_level,
            escalated=row.escalated,
            locked=row.locked,
            pack=decision.pack,
            pack_version=decision.pack_version,
            decision=encoded,
        )
    )
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


def annual_entry(row: GradedEnterprise, *, today: date) -> AnnualListEntry | None:
    """年度名单: a unit under key or special supervision on any day of a year is on that year's list."""
    if row.supervision_class not in LISTED_CLASSES or row.kind is None:
        return None
    return AnnualListEntry(
        year=today.year,
        supervision_class=row.supervision_class,
        enterprise_id=row.enterprise_id,
        kind=row.kind,
        region_code=row.region_code,
        name=row.name,
        listed_on=today,
        rule=row.class_rule,
        reason=row.class_reason,
    )


async def list_annually(session: AsyncSession, row: GradedEnterprise, *, today: date) -> None:
    entry = annual_entry(row, today=today)
    if entry is None:
        return
    with session.no_autoflush:
        key = (entry.year, entry.supervision_class, entry.enterprise_id)
        if await session.get(AnnualListEntry, key) is None and not await repository.is_frozen(
            session, today.year
        ):
            session.add(entry)


# ---------------------------------------------------------------------------------------------- handlers


async def _enterprise(session: AsyncSession, enterprise_id: str, region_code: str) -> GradedEnterprise:
    """The unit's row; created from the first event that names it, whichever stream that came from."""
    row = await session.get(GradedEnterprise, enterprise_id)
    if row is None:
        row = GradedEnterprise(enterprise_id=enterprise_id, region_code=region_code, updated_at=utcnow())
        session.add(row)
        await session.flush()
    return row


class Handlers:
    """The event handlers, bound to the packs in force."""

    def __init__(self, packs: PackSet) -> None:
        self.packs = packs

    async def on_registered(
        self, session: AsyncSession, event: CloudEvent, payload: EnterpriseRegistered
    ) -> None:
        """Registered or updated (a full snapshot): the newest size wins, whatever order events arrive in."""
        row = await _enterprise(session, payload.enterprise_id, payload.region_code)
        if row.size_as_of is not None and as_utc(row.size_as_of) > event.time:
            return
        row.region_code, row.uscc, row.name = payload.region_code, payload.uscc, payload.name
        row.kind, row.sales_channel = payload.kind, payload.sales_channel
        row.employees, row.revenue_wan_yuan = payload.employees, payload.revenue_wan_yuan
        row.size_as_of = event.time
        # Credit classes that arrived before the unit did wait under its USCC.
        await session.execute(
            update(RiskSignal)
            .where(RiskSignal.enterprise_id.is_(None), RiskSignal.uscc == payload.uscc)  # type: ignore[union-attr,attr-defined]
            .values(enterprise_id=row.enterprise_id)
        )
        await refresh(session, self.packs, row, today=today_cn(), cause=event.type, cause_id=event.id)

    async def _signal(
        self, session: AsyncSession, event: CloudEvent, row: GradedEnterprise, **fields: Any
    ) -> None:
        session.add(
            RiskSignal(
                id=event.id,
                enterprise_id=row.enterprise_id,
                source_type=event.type,
                received_at=utcnow(),
                **fields,
            )
        )
        await session.flush()
        await refresh(session, self.packs, row, today=today_cn(), cause=event.type, cause_id=event.id)

    async def on_spot_check_failed(
        self, session: AsyncSession, event: CloudEvent, payload: SpotCheckRecorded
    ) -> None:
        """监督抽查不合格: a major quality-safety risk."""
        row = await _enterprise(session, payload.enterprise_id, event.region)
        detail = {"product": payload.product, "batch": payload.batch, "failed_items": payload.failed_items}
        await self._signal(
            session,
            event,
            row,
            kind="spot_check_failed",
            occurred_on=payload.sampled_on,
            ref=payload.spot_check_id,
            detail=json.dumps(detail, ensure_ascii=False),
        )

    async def on_spot_check_overturned(
        self, session: AsyncSession, event: CloudEvent, payload: SpotCheckOverturned
    ) -> None:
        """复检推翻: the failure it names stops counting, whether it arrived before or after this."""
        row = await _enterprise(session, payload.enterprise_id, event.region)
        await self._signal(
            session,
            event,
            row,
            kind="spot_check_overturned",
            occurred_on=payload.decided_on,
            ref=payload.spot_check_id,
            detail=json.dumps({"note": payload.note}, ensure_ascii=False),
        )

    async def on_case_closed(self, session: AsyncSession, event: CloudEvent, payload: CaseClosed) -> None:
        """立案查处结案: a penalty (从重 flagged) counts from the day the case closed; a case closed without
        one is no signal."""
        if not payload.penalised:
            return
        row = await _enterprise(session, payload.enterprise_id, event.region)
        detail = {
            "cause": payload.cause,
            "warning": payload.warning,
            "fine_yuan": payload.fine_yuan,
            "confiscated_yuan": payload.confiscated_yuan,
        }
        await self._signal(
            session,
            event,
            row,
            kind="penalty",
            occurred_on=payload.closed_on,
            heavier=payload.heavier,
            ref=payload.case_id,
            detail=json.dumps(detail, ensure_ascii=False),
        )

    async def on_complaint_verified(
        self, session: AsyncSession, event: CloudEvent, payload: ComplaintVerified
    ) -> None:
        """投诉举报经核实: a major quality-safety risk in the packs that count it."""
        row = await _enterprise(session, payload.enterprise_id, event.region)
        await self._signal(
            session,
            event,
            row,
            kind="complaint_verified",
            occurred_on=payload.verified_on,
            ref=payload.complaint_id,
            detail=json.dumps({"inspection_id": payload.inspection_id}),
        )

    async def on_credit_assessed(
        self, session: AsyncSession, event: CloudEvent, payload: CreditRiskAssessed
    ) -> None:
        """信用风险分类: kept under the USCC until the unit is known; the latest assessment counts."""
        row = await repository.by_uscc(session, payload.uscc)
        signal = RiskSignal(
            id=event.id,
            enterprise_id=row.enterprise_id if row else None,
            uscc=payload.uscc,
            kind="credit_risk",
            credit_class=payload.credit_class,
            occurred_on=payload.assessed_on,
            source_type=event.type,
            received_at=utcnow(),
        )
        session.add(signal)
        await session.flush()
        if row is not None:
            await refresh(session, self.packs, row, today=today_cn(), cause=event.type, cause_id=event.id)


# ------------------------------------------------------------------------------------------ daily recompute


async def recompute(
    db: Database, packs: PackSet, *, today: date, full: bool = True, batch: int = 2000
) -> dict[str, int]:
    """Decide units again (windows lapse, manual decisions expire, packs change); write only changes.

    ``full`` decides every unit, as after a pack change; otherwise only units whose decision can move with
    the calendar: those with signals, manual decisions, or a class, escalation or lock to lapse. Each batch
    commits on its own, so a recompute cut short resumes harmlessly at the next run.
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
            for row in rows:
                decision = evaluate(
                    packs, row, signals.get(row.enterprise_id, ()), manual.get(row.enterprise_id), today=today
                )
                if store(session, packs, row, decision, today=today, cause="recompute"):
                    changed += 1
                entry = annual_entry(row, today=today)
                if entry and not frozen and (entry.supervision_class, entry.enterprise_id) not in listed:
                    session.add(entry)
            seen += len(rows)
            after = ids[-1]
    async with db.transaction() as session:
        await repository.freeze_years_before(session, today.year, at=utcnow())
    return {"units": seen, "changed": changed}


def expires_ok(pack: Pack, *, today: date, expires_on: date) -> bool:
    return today < expires_on <= today + timedelta(days=pack.manual.max_days)
