"""Every grading query; reads are scoped by the caller's jurisdiction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.json_rows import decode, dialect_of, json_rows, scope_of
from services.common.pagination import keyset
from services.common.regions import prefix_of
from services.grading.decide import Signal
from services.grading.models import (
    AnnualListEntry,
    AnnualListFreeze,
    DecisionHistory,
    GradedEnterprise,
    ManualDecision,
    RiskSignal,
)

_SIGNAL_ORDER = (RiskSignal.occurred_on, RiskSignal.id)


def within(caller: Caller) -> Any:
    """The condition "the caller may see the unit": a regulator, the units of its jurisdiction; an enterprise
    account, its own unit only (by USCC, which the projection learns from registry's registration event)."""
    if not caller.is_regulator:
        return GradedEnterprise.uscc == (caller.uscc or "")
    return GradedEnterprise.region_code.startswith(prefix_of(caller.region_code))  # type: ignore[attr-defined]


def readable(caller: Caller) -> Select[Any]:
    return select(GradedEnterprise).where(within(caller))


async def get_readable(session: AsyncSession, caller: Caller, enterprise_id: str) -> GradedEnterprise | None:
    stmt = readable(caller).where(GradedEnterprise.enterprise_id == enterprise_id)
    return (await session.execute(stmt)).scalar_one_or_none()


_SIGNAL = RiskSignal.__table__.c  # type: ignore[attr-defined]
_MANUAL = ManualDecision.__table__.c  # type: ignore[attr-defined]
# What a unit's GET shows of each (SignalPublic, ManualDecisionPublic).
SIGNAL_COLUMNS = [
    getattr(_SIGNAL, name)
    for name in (
        "id",
        "kind",
        "occurred_on",
        "source_type",
        "heavier",
        "credit_class",
        "ref",
        "recorded_by",
        "detail",
    )
]
MANUAL_COLUMNS = [
    getattr(_MANUAL, name)
    for name in (
        "id",
        "supervision_class",
        "reason",
        "decided_on",
        "expires_on",
        "decided_by",
        "decided_by_region",
        "created_at",
        "revoked_at",
        "revoked_by",
    )
]


@dataclass(frozen=True)
class Grading:
    """A unit's decision with its signals and manual decisions, as read in one statement."""

    unit: Any  # a Row of graded_enterprise: the columns by name, as attributes
    signals: list[dict[str, Any]]
    manual_decisions: list[dict[str, Any]]


@lru_cache(maxsize=1024)
def grading_statement(dialect: str, scope: Caller) -> Select[Any]:
    """The unit ``:enterprise_id`` (if a caller of ``scope`` may read it), its signals and its manual
    decisions, as one SELECT."""
    unit = GradedEnterprise.__table__  # type: ignore[attr-defined]
    signals = json_rows(
        dialect, SIGNAL_COLUMNS, where=_SIGNAL.enterprise_id == unit.c.enterprise_id, order_by=_SIGNAL_ORDER
    )
    manual = json_rows(
        dialect,
        MANUAL_COLUMNS,
        where=_MANUAL.enterprise_id == unit.c.enterprise_id,
        order_by=[_MANUAL.created_at, _MANUAL.id],
    )
    return select(unit, signals.label("signals_"), manual.label("manual_decisions_")).where(
        within(scope), unit.c.enterprise_id == bindparam("enterprise_id")
    )


async def get_readable_grading(session: AsyncSession, caller: Caller, enterprise_id: str) -> Grading | None:
    stmt = grading_statement(dialect_of(session), scope_of(caller))
    row = (await session.execute(stmt, {"enterprise_id": enterprise_id})).one_or_none()
    if row is None:
        return None
    return Grading(
        unit=row,
        signals=decode(SIGNAL_COLUMNS, row.signals_),
        manual_decisions=decode(MANUAL_COLUMNS, row.manual_decisions_),
    )


async def list_readable(
    session: AsyncSession,
    caller: Caller,
    *,
    filters: dict[str, Any],
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[GradedEnterprise], str | None]:
    stmt = readable(caller)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(GradedEnterprise, name) == value)
    return await keyset(session, stmt, GradedEnterprise.enterprise_id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def by_uscc(session: AsyncSession, uscc: str) -> GradedEnterprise | None:
    stmt = select(GradedEnterprise).where(GradedEnterprise.uscc == uscc)
    return (await session.execute(stmt)).scalar_one_or_none()


_UNITS = GradedEnterprise.__table__  # type: ignore[attr-defined]
_UNIT_COLUMNS = tuple(column.name for column in _UNITS.columns)


def _locked(stmt: Select[Any]) -> Select[Any]:
    """Rows read to be decided and written back whole are locked (PostgreSQL; on SQLite the transaction holds
    the write lock already): two consumers of one service, or a consumer and a recompute, would otherwise
    each write back what the other did not see. Locked in id order, so that two batches cannot deadlock."""
    return stmt.order_by(_UNITS.c.enterprise_id).with_for_update()


class UnitRow:
    """A graded_enterprise row as plain data: what the set-based paths (a batch of events, a recompute)
    read and decide over by the thousand, without the cost of ORM objects, and write back with
    :func:`write_units`. It has the model's attributes, so the decision functions take either."""

    __slots__ = _UNIT_COLUMNS

    def __init__(self, **values: Any) -> None:
        for name in _UNIT_COLUMNS:
            setattr(self, name, values.get(name))


async def units_by_ids_or_usccs(
    session: AsyncSession, ids: Sequence[str], usccs: Sequence[str]
) -> list[UnitRow]:
    """The units named by id or by USCC, in one query, locked until the transaction ends."""
    if not ids and not usccs:
        return []
    stmt = select(_UNITS).where(_UNITS.c.enterprise_id.in_(ids) | _UNITS.c.uscc.in_(usccs))
    return [UnitRow(**row) for row in (await session.execute(_locked(stmt))).mappings()]


async def write_units(session: AsyncSession, units: Sequence[UnitRow]) -> None:
    """Write every column of ``units`` back, in one executemany UPDATE."""
    if not units:
        return
    stmt = (
        update(_UNITS)
        .where(_UNITS.c.enterprise_id == bindparam("b_enterprise_id"))
        .values({name: bindparam(f"b_{name}") for name in _UNIT_COLUMNS if name != "enterprise_id"})
    )
    await session.execute(
        stmt, [{f"b_{name}": getattr(unit, name) for name in _UNIT_COLUMNS} for unit in units]
    )


async def pending_credit(session: AsyncSession, usccs: Sequence[str]) -> Sequence[RiskSignal]:
    """Credit classes waiting under these USCCs for their unit to be registered."""
    if not usccs:
        return []
    stmt = (
        select(RiskSignal)
        .where(RiskSignal.enterprise_id.is_(None), RiskSignal.uscc.in_(usccs))  # type: ignore[union-attr,attr-defined]
        .order_by(RiskSignal.occurred_on, RiskSignal.id)  # type: ignore[arg-type]
    )
    return (await session.execute(stmt)).scalars().all()


async def signals_of(session: AsyncSession, enterprise_id: str) -> Sequence[RiskSignal]:
    stmt = select(RiskSignal).where(RiskSignal.enterprise_id == enterprise_id).order_by(*_SIGNAL_ORDER)  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalars().all()


async def signals_for(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[Signal]]:
    """The signals of the units ``ids`` as the rules take them (no ORM objects: a batch reads thousands)."""
    table = RiskSignal.__table__  # type: ignore[attr-defined]
    c = table.c
    stmt = (
        select(c.enterprise_id, c.id, c.kind, c.occurred_on, c.heavier, c.credit_class, c.ref)
        .where(c.enterprise_id.in_(ids))
        .order_by(c.occurred_on, c.id)
    )
    found: dict[str, list[Signal]] = defaultdict(list)
    for unit, *fields in (await session.execute(stmt)).all():
        found[unit].append(Signal(*fields))
    return found


def _active(today: date) -> Any:
    return (ManualDecision.revoked_at.is_(None)) & (ManualDecision.expires_on > today)  # type: ignore[union-attr]


async def active_manual(session: AsyncSession, enterprise_id: str, today: date) -> ManualDecision | None:
    """The newest manual decision in force on ``today`` (a newer one replaces an older one)."""
    stmt = (
        select(ManualDecision)
        .where(ManualDecision.enterprise_id == enterprise_id, _active(today))
        .order_by(ManualDecision.created_at.desc(), ManualDecision.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def active_manual_for(
    session: AsyncSession, ids: Sequence[str], today: date
) -> dict[str, ManualDecision]:
    stmt = (
        select(ManualDecision)
        .where(ManualDecision.enterprise_id.in_(ids), _active(today))  # type: ignore[attr-defined]
        .order_by(ManualDecision.created_at, ManualDecision.id)  # type: ignore[arg-type]
    )
    return {row.enterprise_id: row for row in (await session.execute(stmt)).scalars()}  # newest last wins


async def manual_decisions_of(session: AsyncSession, enterprise_id: str) -> Sequence[ManualDecision]:
    stmt = (
        select(ManualDecision)
        .where(ManualDecision.enterprise_id == enterprise_id)
        .order_by(ManualDecision.created_at, ManualDecision.id)  # type: ignore[arg-type]
    )
    return (await session.execute(stmt)).scalars().all()


async def history_of(
    session: AsyncSession, enterprise_id: str, *, cursor: str | None, limit: int
) -> tuple[Sequence[DecisionHistory], str | None]:
    stmt = select(DecisionHistory).where(DecisionHistory.enterprise_id == enterprise_id)
    return await keyset(session, stmt, DecisionHistory.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


def _due(stmt: Any) -> Any:
    """Only the units whose decision can change with the calendar alone."""
    unit = GradedEnterprise.enterprise_id
    return stmt.where(
        (GradedEnterprise.supervision_class != "routine")
        | GradedEnterprise.escalated
        | GradedEnterprise.locked
        | GradedEnterprise.pack.is_(None)  # type: ignore[union-attr]
        | exists().where(RiskSignal.enterprise_id == unit)
        | exists().where(ManualDecision.enterprise_id == unit, ManualDecision.revoked_at.is_(None))  # type: ignore[union-attr]
    )


async def count_units(session: AsyncSession, *, due_only: bool = False) -> int:
    """How many units a recompute visits (its progress bar's total)."""
    stmt = select(func.count()).select_from(GradedEnterprise)
    return (await session.execute(_due(stmt) if due_only else stmt)).scalar_one()


async def page_of_units(
    session: AsyncSession, *, after: str, limit: int, due_only: bool = False
) -> list[UnitRow]:
    """The next units by id; ``due_only``: those whose decision can change with the calendar alone."""
    stmt = select(_UNITS).where(GradedEnterprise.enterprise_id > after)
    if due_only:
        stmt = _due(stmt)
    return [UnitRow(**row) for row in (await session.execute(_locked(stmt).limit(limit))).mappings()]


async def listed_in(session: AsyncSession, year: int, ids: Sequence[str]) -> set[tuple[str, str]]:
    """(class, unit) pairs already on ``year``'s lists, of the units ``ids``."""
    stmt = select(AnnualListEntry.supervision_class, AnnualListEntry.enterprise_id).where(
        AnnualListEntry.year == year,
        AnnualListEntry.enterprise_id.in_(ids),  # type: ignore[attr-defined]
    )
    return {(cls, unit) for cls, unit in (await session.execute(stmt)).all()}


async def is_frozen(session: AsyncSession, year: int) -> bool:
    return await session.get(AnnualListFreeze, year) is not None


async def freeze_years_before(session: AsyncSession, year: int, *, at: datetime) -> None:
    """Close every year before ``year`` that has entries and is not closed yet."""
    listed = select(AnnualListEntry.year).where(AnnualListEntry.year < year).distinct()
    frozen = {y for (y,) in (await session.execute(select(AnnualListFreeze.year))).all()}
    for (past,) in (await session.execute(listed)).all():
        if past not in frozen:
            session.add(AnnualListFreeze(year=past, frozen_at=at))


def annual_list(caller: Caller, *, year: int, supervision_class: str, kind: str | None) -> Select[Any]:
    stmt = select(AnnualListEntry).where(
        AnnualListEntry.year == year,
        AnnualListEntry.supervision_class == supervision_class,
        AnnualListEntry.region_code.startswith(prefix_of(caller.region_code)),  # type: ignore[attr-defined]
    )
    if kind:
        stmt = stmt.where(AnnualListEntry.kind == kind)
    return stmt


async def stream_annual_list(
    session: AsyncSession, caller: Caller, *, year: int, supervision_class: str, kind: str | None
) -> AsyncIterator[AnnualListEntry]:
    result = await session.stream_scalars(
        annual_list(caller, year=year, supervision_class=supervision_class, kind=kind)
        .order_by(AnnualListEntry.region_code, AnnualListEntry.enterprise_id)  # type: ignore[arg-type]
        .execution_options(yield_per=1000)
    )
    async for row in result:
        yield row


async def freeze_of(session: AsyncSession, year: int) -> AnnualListFreeze | None:
    return await session.get(AnnualListFreeze, year)
