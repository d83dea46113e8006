"""What grading consumes, applied set-based: a fetched batch of events is one call, which reads the state of
every unit it names in one query per table, decides in memory in stream order (the rules stay pure
functions), and leaves its writes to the batch's single flush (one statement per table). Grading publishes
through service.py's emit calls."""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import as_utc, insert_at_commit, insert_ignoring_duplicates, today_cn, utcnow
from services.common.events import (
    CASE_CLOSED,
    COMPLAINT_VERIFIED,
    CREDIT_RISK_ASSESSED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_UPDATED,
    EXAM_ENTERPRISE_SUMMONED,
    SPOT_CHECK_FAILED,
    SPOT_CHECK_OVERTURNED,
    CaseClosed,
    CloudEvent,
    ComplaintVerified,
    CreditRiskAssessed,
    EnterpriseRegistered,
    EventSpec,
    ExamEnterpriseSummoned,
    SpotCheckOverturned,
    SpotCheckRecorded,
)
from services.common.messaging import Batched, Delivery
from services.common.policy import PackSet
from services.grading import repository
from services.grading.decide import Signal
from services.grading.models import GradedEnterprise, ManualDecision, RiskSignal
from services.grading.repository import UnitRow
from services.grading.service import as_signal, evaluate, list_annually, store

SIGNAL_SOURCES = (
    SPOT_CHECK_FAILED,
    SPOT_CHECK_OVERTURNED,
    CASE_CLOSED,
    COMPLAINT_VERIFIED,
    EXAM_ENTERPRISE_SUMMONED,
)
SIZE_SOURCES = (ENTERPRISE_REGISTERED, ENTERPRISE_UPDATED)


def handlers(packs: PackSet) -> dict[EventSpec[Any], Batched]:
    batched = Batched(BatchApplier(packs).apply)
    return dict.fromkeys((*SIZE_SOURCES, *SIGNAL_SOURCES, CREDIT_RISK_ASSESSED), batched)


def _signal_fields(event: CloudEvent, payload: Any) -> dict[str, Any] | None:
    """The risk signal an event of a unit carries (kind, day, ref, detail), or None when it carries none."""
    if isinstance(payload, SpotCheckRecorded):  # 监督抽查不合格: a major quality-safety risk
        detail = {"product": payload.product, "batch": payload.batch, "failed_items": payload.failed_items}
        return {
            "kind": "spot_check_failed",
            "occurred_on": payload.sampled_on,
            "ref": payload.spot_check_id,
            "detail": detail,
        }
    if isinstance(payload, SpotCheckOverturned):  # 复检推翻: the failure it names stops counting
        return {
            "kind": "spot_check_overturned",
            "occurred_on": payload.decided_on,
            "ref": payload.spot_check_id,
            "detail": {"note": payload.note},
        }
    if isinstance(payload, CaseClosed):  # 立案查处结案: a penalty (从重 flagged) counts from the closing day
        if not payload.penalised:
            return None
        detail = {
            "cause": payload.cause,
            "warning": payload.warning,
            "fine_yuan": payload.fine_yuan,
            "confiscated_yuan": payload.confiscated_yuan,
        }
        return {
            "kind": "penalty",
            "occurred_on": payload.closed_on,
            "heavier": payload.heavier,
            "ref": payload.case_id,
            "detail": detail,
        }
    if isinstance(payload, ComplaintVerified):  # 投诉举报经核实
        return {
            "kind": "complaint_verified",
            "occurred_on": payload.verified_on,
            "ref": payload.complaint_id,
            "detail": {"inspection_id": payload.inspection_id},
        }
    if isinstance(payload, ExamEnterpriseSummoned):  # 多次考核不合格被约谈: counted from the summons day
        return {
            "kind": "summoned",
            "occurred_on": payload.summoned_on,
            "ref": payload.summons_id,
            "detail": {
                "failures": payload.failures,
                "result_ids": payload.result_ids,
                "reason": payload.reason,
            },
        }
    raise TypeError(f"grading does not apply {event.type}")


def _signal_key(signal: Signal) -> tuple[date, str]:
    return (signal.occurred_on, signal.id)  # repository.signals_for's order


def _as_signal(row: dict[str, Any]) -> Signal:
    return Signal(row["id"], row["kind"], row["occurred_on"], row["heavier"], row["credit_class"], row["ref"])


def _signal_row(event: CloudEvent, **fields: Any) -> dict[str, Any]:
    """A risk_signal row from the event that carries it (written at commit with the batch's others)."""
    return {
        "id": event.id,
        "enterprise_id": None,
        "uscc": None,
        "heavier": False,
        "credit_class": None,
        "ref": None,
        "recorded_by": None,
        "detail": "{}",
        "source_type": event.type,
        "received_at": utcnow(),
        **fields,
    }


class _BatchState:
    """The stored state of every unit a batch names, read in one query per table, changed in memory."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.units: dict[str, UnitRow] = {}
        self.by_uscc: dict[str, UnitRow] = {}
        self.changed: dict[str, UnitRow] = {}  # the units to write back
        self.signals: dict[str, list[Signal]] = defaultdict(list)
        # Credit classes by USCC whose unit is not known yet: stored rows, or rows this batch will insert.
        self.pending_credit: dict[str, list[RiskSignal | dict[str, Any]]] = defaultdict(list)
        self.manual: dict[str, ManualDecision] = {}
        self.listed: set[tuple[str, str]] = set()
        self.frozen = False

    async def load(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        regions: dict[str, str] = {}
        usccs: set[str] = set()
        for d in deliveries:
            payload = d.payload
            if isinstance(payload, CreditRiskAssessed):
                usccs.add(payload.uscc)
            elif isinstance(payload, EnterpriseRegistered):
                regions.setdefault(payload.enterprise_id, payload.region_code)
                usccs.add(payload.uscc)
            elif _signal_fields(d.event, payload) is not None:
                regions.setdefault(payload.enterprise_id, d.event.region)
        # A unit's row is made by the first event that names it, whichever stream that came from; another
        # consumer may make it at the same moment, hence ON CONFLICT DO NOTHING, then one read of all.
        if regions:
            now = utcnow()
            await session.execute(
                insert_ignoring_duplicates(session, GradedEnterprise.__table__),  # type: ignore[arg-type]
                [  # in id order, as the rows are locked below
                    {**_NEW_UNIT, "enterprise_id": unit, "region_code": region, "updated_at": now}
                    for unit, region in sorted(regions.items())
                ],
            )
        rows = await repository.units_by_ids_or_usccs(session, list(regions), list(usccs))
        for row in rows:
            self.units[row.enterprise_id] = row
            if row.uscc is not None:
                self.by_uscc[row.uscc] = row
        ids = list(self.units)
        self.signals.update(await repository.signals_for(session, ids))
        for signal in await repository.pending_credit(session, list(usccs)):
            self.pending_credit[signal.uscc].append(signal)  # type: ignore[index]
        self.manual = await repository.active_manual_for(session, ids, self.today)
        self.listed = await repository.listed_in(session, self.today.year, ids)
        self.frozen = await repository.is_frozen(session, self.today.year)

    def add_signal(self, unit: str, row: dict[str, Any] | RiskSignal) -> None:
        """Count a signal row for ``unit`` from now on in this batch, in the order the repository reads them."""
        signal = as_signal(row) if isinstance(row, RiskSignal) else _as_signal(row)
        bisect.insort(self.signals[unit], signal, key=_signal_key)


_SIGNALS = RiskSignal.__table__  # type: ignore[attr-defined]

# Column defaults of a new unit row (the model's), for the multi-row insert that bypasses the ORM.
_NEW_UNIT = {
    "supervision_class": "routine",
    "class_rule": "routine.no_risk_signal",
    "class_reason": "",
    "class_evidence": "[]",
    "class_source": "automatic",
    "automatic_class": "routine",
    "escalated": False,
    "locked": False,
    "decision": "{}",
}


class BatchApplier:
    """Grading's consumer of a batch of registry, inspection and credit events, bound to the packs in force."""

    def __init__(self, packs: PackSet) -> None:
        self.packs = packs

    async def apply(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        state = _BatchState(today_cn())
        await state.load(session, deliveries)
        with session.no_autoflush:
            for d in deliveries:
                row = self._record(session, state, d.event, d.payload)
                if row is not None:
                    self._decide(session, state, row, d.event)
        await repository.write_units(session, list(state.changed.values()))

    def _record(
        self, session: AsyncSession, state: _BatchState, event: CloudEvent, payload: Any
    ) -> UnitRow | None:
        """Record what the event says; the unit whose decision it may change, or None."""
        if isinstance(payload, EnterpriseRegistered):
            # A full snapshot: the newest size wins, whatever order events arrive in.
            row = state.units[payload.enterprise_id]
            if row.size_as_of is not None and as_utc(row.size_as_of) > event.time:
                return None
            if row.uscc is not None and row.uscc != payload.uscc:
                state.by_uscc.pop(row.uscc, None)
            row.region_code, row.uscc, row.name = payload.region_code, payload.uscc, payload.name
            row.kind, row.sales_channel = payload.kind, payload.sales_channel
            row.employees, row.revenue_wan_yuan = payload.employees, payload.revenue_wan_yuan
            row.size_as_of = event.time
            state.by_uscc[payload.uscc] = row
            state.changed[row.enterprise_id] = row
            # Credit classes that arrived before the unit did wait under its USCC.
            for waiting in state.pending_credit.pop(payload.uscc, []):
                if isinstance(waiting, RiskSignal):
                    waiting.enterprise_id = row.enterprise_id
                else:  # not written yet: it will be, with its unit
                    waiting["enterprise_id"] = row.enterprise_id
                state.add_signal(row.enterprise_id, waiting)
            return row
        if isinstance(payload, CreditRiskAssessed):
            # 信用风险分类: kept under the USCC until the unit is known; the latest assessment counts.
            found = state.by_uscc.get(payload.uscc)
            signal = _signal_row(
                event,
                enterprise_id=found.enterprise_id if found else None,
                uscc=payload.uscc,
                kind="credit_risk",
                credit_class=payload.credit_class,
                occurred_on=payload.assessed_on,
            )
            insert_at_commit(session, _SIGNALS, signal)
            if found is None:
                state.pending_credit[payload.uscc].append(signal)
                return None
            state.add_signal(found.enterprise_id, signal)
            return found
        fields = _signal_fields(event, payload)
        if fields is None:
            return None
        row = state.units[payload.enterprise_id]
        signal = _signal_row(
            event,
            enterprise_id=row.enterprise_id,
            **{**fields, "detail": json.dumps(fields["detail"], ensure_ascii=False)},
        )
        insert_at_commit(session, _SIGNALS, signal)
        state.add_signal(row.enterprise_id, signal)
        return row

    def _decide(self, session: AsyncSession, state: _BatchState, row: UnitRow, event: CloudEvent) -> None:
        unit = row.enterprise_id
        decision = evaluate(self.packs, row, state.signals[unit], state.manual.get(unit), today=state.today)
        if store(session, self.packs, row, decision, today=state.today, cause=event.type, cause_id=event.id):
            state.changed[unit] = row
        list_annually(session, row, today=state.today, listed=state.listed, frozen=state.frozen)
