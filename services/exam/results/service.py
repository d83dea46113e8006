"""Publication of results (公布) and its consequences, in the transaction that publishes them:

* each result goes out as ``exam.result.published`` (registry bars a failed person from every post);
* each unit with failed persons in the plan gets a rectification (督促整改, due in the pack's days);
* a unit whose failures reach the pack's 多次 is summoned (约谈): ExamSummons + ``exam.enterprise.summoned``
  (grading's ``summoned`` signal).

A plan already results_published publishes each later result at once with the same consequences (exam
consumes its own ``exam.sitting.submitted``, see ``on_sittings_submitted``); publishing a plan again
publishes what is still pending (nothing, usually), so a result that slipped between the two is never
stuck."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import today_cn, utcnow
from services.common.events import (
    EXAM_ENTERPRISE_SUMMONED,
    EXAM_RESULT_PUBLISHED,
    ExamEnterpriseSummoned,
    ExamResultPublished,
)
from services.common.ids import new_id
from services.common.messaging import Delivery, emit
from services.exam.models import ExamPlan, ExamRectification, ExamResult, ExamSummons
from services.exam.results import repository, rules
from services.exam.results.errors import (
    DateInFuture,
    NoResultsToPublish,
    PlanNotPublished,
    RectificationClosed,
    RectificationNotFound,
    RegulatorOnly,
    SummonsAlreadyHeld,
    SummonsNotFound,
)


def require_regulator(caller: Caller) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly("企业账号不能办理")


def result_event(result: ExamResult) -> ExamResultPublished:
    return ExamResultPublished(
        exam_id=result.id,
        enterprise_id=result.enterprise_id,
        manager_id=result.manager_id,
        result=result.result,  # type: ignore[arg-type]
        published_on=result.published_on,  # type: ignore[arg-type]
        plan_id=result.plan_id,
        sitting_id=result.sitting_id,
        role=result.role,  # type: ignore[arg-type]
        kind=result.kind,  # type: ignore[arg-type]
        score=result.score,
        max_score=result.max_score,
        correction_of=result.correction_of,
        reason=result.reason,
    )


async def publish_plan(*, session: AsyncSession, caller: Caller, plan: ExamPlan) -> dict[str, Any]:
    """POST /plans/{id}/results/publish: every pending current result becomes published today (Beijing)."""
    if plan.status not in ("published", "results_published"):
        raise PlanNotPublished(f"考核计划《{plan.title}》尚未发布抽取结果")
    results = await repository.open_results(session, plan.id)
    current = {r.id for r in rules.current_results(repository.as_row(r, i) for i, r in enumerate(results))}
    pending = [r for r in results if r.status == "pending" and r.id in current]
    if not pending and plan.status != "results_published":
        raise NoResultsToPublish(f"考核计划《{plan.title}》还没有已评分的答卷")
    today = today_cn()
    if plan.status != "results_published":
        plan.status = "results_published"
        plan.results_published_at = utcnow()
        plan.results_published_by = caller.username
    opened, summoned = await publish(session, plan, pending, today=today)
    return {
        "plan_id": plan.id,
        "status": plan.status,
        "published_on": today if pending else None,
        "published": len(pending),
        "failed": sum(r.result == "failed" for r in pending),
        "rectifications": opened,
        "summonses": summoned,
    }


async def publish(
    session: AsyncSession, plan: ExamPlan, results: Sequence[ExamResult], *, today: date
) -> tuple[list[str], list[str]]:
    """Publish ``results`` (pending ones, of ``plan``) with their consequences; the rectifications and summonses
    this opened. Set-based: one UPDATE, the events and new rows in one executemany each."""
    if not results:
        return [], []
    for result in results:  # flushed as one executemany UPDATE
        result.status, result.published_on = "published", today
    return await announce(session, plan, results, today=today)


async def announce(
    session: AsyncSession, plan: ExamPlan, results: Sequence[ExamResult], *, today: date
) -> tuple[list[str], list[str]]:
    """The events and consequences of results just published (``results`` stored as published already)."""
    for result in results:
        emit(
            session,
            EXAM_RESULT_PUBLISHED,
            result_event(result),
            region=result.region_code,
            enterprise_id=result.enterprise_id,
        )
    failed = [r for r in results if r.result == "failed"]
    if not failed:
        return [], []
    opened = await _rectify(session, plan, failed, today=today, days=plan.rectification_days)
    summoned = await _summon(session, {r.enterprise_id: r.region_code for r in failed}, plan, today=today)
    return opened, summoned


async def _rectify(
    session: AsyncSession, plan: ExamPlan, failed: Sequence[ExamResult], *, today: date, days: int
) -> list[str]:
    """督促整改: one per unit and plan; a later failure of a person not named yet adds them (and reopens a
    closed one); a regraded failure of a person already named changes nothing."""
    by_unit: dict[str, list[ExamResult]] = defaultdict(list)
    for result in failed:
        by_unit[result.enterprise_id].append(result)
    known = await repository.rectifications_of(session, plan.id, by_unit)
    opened = []
    for unit, found in sorted(by_unit.items()):
        managers = sorted({r.manager_id for r in found})
        held = known.get(unit)
        if held is None:
            row = ExamRectification(
                id=new_id(),
                enterprise_id=unit,
                plan_id=plan.id,
                region_code=found[0].region_code,
                kind=found[0].kind,
                manager_ids=json.dumps(managers),
                opened_on=today,
                due_on=rules.rectification_due_on(today, days),
            )
            session.add(row)
            opened.append(row.id)
            continue
        merged = sorted(set(json.loads(held.manager_ids)) | set(managers))
        if merged != sorted(json.loads(held.manager_ids)):  # a person failed not named yet (not a regrade's)
            held.manager_ids = json.dumps(merged)
            if held.status == "done":  # the unit is urged again, on the same record
                held.status, held.closed_on, held.closed_by = "open", None, None
                held.due_on = rules.rectification_due_on(today, days)
    return opened


async def _summon(
    session: AsyncSession, regions: dict[str, str], plan: ExamPlan, *, today: date
) -> list[str]:
    """The 多次 rule (the plan's numbers, copied from its pack) for the units with new failures: one query for their results, one for their summonses."""
    rows = await repository.results_of_units(session, regions)
    held = await repository.summonses_of_units(session, regions)
    summoned_for: dict[str, set[str]] = defaultdict(set)
    for summons in held:
        summoned_for[summons.enterprise_id].update(json.loads(summons.result_ids))
    made = []
    for unit in sorted(regions):
        due = rules.summons_due(
            unit,
            [r for r in rows if r.enterprise_id == unit],
            summoned_for[unit],
            repeated_failures=plan.repeated_failures,
            within_days=plan.repeated_failures_within_days,
            today=today,
        )
        if due is None:
            continue
        summons = ExamSummons(
            id=new_id(),
            enterprise_id=unit,
            region_code=regions[unit],
            failures=due.failures,
            result_ids=json.dumps(list(due.result_ids)),
            summoned_on=today,
            reason=due.reason,
        )
        session.add(summons)
        emit(
            session,
            EXAM_ENTERPRISE_SUMMONED,
            ExamEnterpriseSummoned(
                summons_id=summons.id,
                enterprise_id=unit,
                region_code=regions[unit],
                failures=due.failures,
                result_ids=list(due.result_ids),
                summoned_on=today,
                reason=due.reason,
            ),
            region=regions[unit],
            enterprise_id=unit,
        )
        made.append(summons.id)
    return made


async def on_sittings_submitted(session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
    """exam.sitting.submitted (exam's own): a sitting of a plan whose results are published already is
    published at once, with the same consequences. One query for the batch's pending results."""
    sittings = sorted({d.payload.sitting_id for d in deliveries})
    stmt = (
        select(ExamResult, ExamPlan)
        .join(ExamPlan, ExamPlan.id == ExamResult.plan_id)
        .where(
            ExamResult.sitting_id.in_(sittings),  # type: ignore[attr-defined]
            ExamResult.status == "pending",
            ExamPlan.status == "results_published",
        )
        .order_by(ExamResult.plan_id, ExamResult.id)
    )
    by_plan: dict[str, tuple[ExamPlan, list[ExamResult]]] = {}
    for result, plan in (await session.execute(stmt)).all():
        by_plan.setdefault(plan.id, (plan, []))[1].append(result)
    today = today_cn()
    for plan, results in by_plan.values():
        await publish(session, plan, results, today=today)


# ------------------------------------------------------------------------------ summonses, rectifications


async def hold_summons(
    *, session: AsyncSession, caller: Caller, summons_id: str, held_on: date, held_by: str, outcome: str
) -> tuple[ExamSummons, str | None]:
    found = await repository.summons(session, caller, summons_id)
    if found is None:
        raise SummonsNotFound(f"约谈记录 {summons_id} 不存在或不在您的管辖范围内")
    require_regulator(caller)
    summons, name = found
    if summons.status == "held":
        raise SummonsAlreadyHeld(f"该约谈已于 {summons.held_on} 进行")
    if held_on > today_cn():
        raise DateInFuture("约谈日期不能晚于今天", field="held_on")
    if held_on < summons.summoned_on:
        raise DateInFuture(f"约谈日期不能早于约谈决定日期 {summons.summoned_on}", field="held_on")
    summons.status, summons.held_on, summons.held_by = "held", held_on, held_by
    summons.outcome, summons.recorded_by = outcome, caller.username
    return summons, name


async def close_rectification(
    *, session: AsyncSession, caller: Caller, rectification_id: str, note: str
) -> tuple[ExamRectification, str | None]:
    found = await repository.rectification(session, caller, rectification_id)
    if found is None:
        raise RectificationNotFound(f"督促整改记录 {rectification_id} 不存在或不在您的管辖范围内")
    require_regulator(caller)
    row, name = found
    if row.status == "done":
        raise RectificationClosed(f"该督促整改已于 {row.closed_on} 办结")
    row.status, row.closed_on, row.closed_by, row.note = "done", today_cn(), caller.username, note
    return row, name
