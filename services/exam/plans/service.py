"""考核计划与抽取: a bureau's plan to examine the managers of its area, the verifiable draw of those it examines,
and the notices their units receive. The draw's rules are ``sampling`` (plain functions), the bank's capacity
``rules``; the queries are ``repository``'s. Services never commit: the route's transaction does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import draw
from services.common.auth import Caller
from services.common.categories import category_codes
from services.common.db import CHINA, as_utc, utcnow
from services.common.events import EXAM_PLAN_PUBLISHED, ExamPlanPublished
from services.common.ids import new_id, new_ids
from services.common.messaging import emit
from services.common.policy import BlueprintItem, packs_in
from services.common.settings import Settings
from services.exam import access
from services.exam.models import ExamCandidate, ExamDraw, ExamPlan
from services.exam.plans import repository, rules, sampling
from services.exam.plans.errors import (
    BlueprintUnfillable,
    DrawConcurrent,
    DrawNotFound,
    DrawPoolEmpty,
    NoticesEnterpriseOnly,
    PlanCategoryUnknown,
    PlanPeriodInvalid,
    PlanResultsPublished,
    PlanSampleInvalid,
    PlansRegulatorOnly,
    PlanStarted,
    RedrawReasonRequired,
)
from services.exam.plans.schemas import DrawPublic, DrawRequest, DrawVerification, PlanCreate, PlanPublic

MAX_PERIOD_DAYS = 366


# ------------------------------------------------------------------------------------------------ plans


def _check(body: PlanCreate) -> None:
    if body.period_end < body.period_start:
        raise PlanPeriodInvalid("考核结束日期不能早于开始日期", field="period_end")
    if (body.period_end - body.period_start).days > MAX_PERIOD_DAYS:
        raise PlanPeriodInvalid("考核期间不能超过一年", field="period_end")
    if (body.sample_count is None) == (body.sample_ratio is None):
        raise PlanSampleInvalid(
            "抽取人数（sample_count）与抽取比例（sample_ratio）须且只须填写一项", field="sample_count"
        )
    unknown = sorted(set(body.product_categories) - category_codes())
    if unknown:
        raise PlanCategoryUnknown(
            f"产品类别 {'、'.join(unknown)} 不在产品类别目录中", field="product_categories"
        )


async def create(*, session: AsyncSession, caller: Caller, body: PlanCreate, settings: Settings) -> ExamPlan:
    """A draft plan of the caller's bureau, its paper rules copied from the province's pack (so that a later
    pack change does not alter it); refused when the visible bank cannot fill its blueprint."""
    if not caller.is_regulator:
        raise PlansRegulatorOnly("企业账号不能制定考核计划")
    _check(body)
    organiser = caller.region_code
    pack = packs_in(settings.grading_packs_dir).for_region(organiser[:6])
    policy = pack.exam
    blueprint: list[BlueprintItem] = list(body.blueprint or policy.blueprint)
    roles = sorted(set(body.roles))
    kinds = sorted(set(body.kinds))
    categories = sorted(set(body.product_categories))
    missing = rules.shortfalls(
        blueprint,
        await repository.bank_groups(session, organiser),
        roles=roles,
        kinds=kinds,
        product_categories=categories,
    )
    if missing:
        raise BlueprintUnfillable(
            "题库中可用的题目不足：" + "；".join(item.message() for item in missing),
            errors=[item.public() for item in missing],
        )
    total = sum(item.count * item.points for item in blueprint)
    plan = ExamPlan(
        id=new_id(),
        title=body.title.strip(),
        organiser_region=organiser,
        mode=body.mode,
        period_start=body.period_start,
        period_end=body.period_end,
        roles=json.dumps(roles),
        kinds=json.dumps(kinds),
        product_categories=json.dumps(categories),
        sample_count=body.sample_count,
        sample_ratio=body.sample_ratio,
        exclude_examined_within_months=(
            policy.exclude_examined_within_months
            if body.exclude_examined_within_months is None
            else body.exclude_examined_within_months
        ),
        pack=f"{pack.pack}@{pack.version}",
        blueprint=json.dumps([item.model_dump() for item in blueprint], ensure_ascii=False),
        duration_minutes=body.duration_minutes or policy.duration_minutes,
        pass_mark=policy.pass_mark_percent * total / 100,
        max_score=total,
        multiple_choice_scoring=policy.multiple_choice_scoring,
        partial_share=policy.partial_share,
        repeated_failures=policy.repeated_failures,
        repeated_failures_within_days=policy.repeated_failures_within_days,
        rectification_days=policy.rectification_days,
        status="draft",
        created_by=caller.username,
        created_at=utcnow(),
    )
    session.add(plan)
    return plan


def plan_public(plan: ExamPlan) -> PlanPublic:
    return PlanPublic(
        **{
            name: getattr(plan, name)
            for name in PlanPublic.model_fields
            if name not in ("roles", "kinds", "product_categories", "blueprint")
        },
        roles=json.loads(plan.roles),
        kinds=json.loads(plan.kinds),
        product_categories=json.loads(plan.product_categories),
        blueprint=json.loads(plan.blueprint),
    )


async def readable(session: AsyncSession, caller: Caller, plan_id: str, *, lock: bool = False) -> ExamPlan:
    plan = await repository.get_readable(session, caller, plan_id, lock=lock)
    if plan is None:
        raise access.ExamPlanNotFound(f"考核计划 {plan_id} 不存在或不在您的管辖范围内")
    return plan


# ------------------------------------------------------------------------------------------------ the draw


def _criteria(plan: ExamPlan) -> sampling.Criteria:
    return sampling.Criteria(
        organiser_region=plan.organiser_region,
        roles=tuple(json.loads(plan.roles)),
        kinds=tuple(json.loads(plan.kinds)),
        product_categories=tuple(json.loads(plan.product_categories)),
        exclude_examined_within_months=plan.exclude_examined_within_months,
        period_start=plan.period_start,
        period_end=plan.period_end,
    )


async def draw_plan(*, session: AsyncSession, caller: Caller, plan_id: str, body: DrawRequest) -> ExamDraw:
    """抽取 (or 重新抽取): rank the pool with the seed, write the round, the candidates, the plan's new state and
    ``exam.plan.published``, all in the caller's one transaction.

    "Examined within N months" means: a sitting of the manager's was submitted (by them, at its deadline, or
    entered by an examiner) at or after Beijing midnight of the plan's ``period_start`` less N months. The
    sitting is what examines a person; its result, published or not, does not change that they were examined.
    N = 0 excludes nobody. Managers no longer appointed (removed, or barred after a failed exam) are not in
    the pool at all."""
    plan = await readable(session, caller, plan_id, lock=True)
    access.require_organiser(caller, plan)
    round_ = plan.draw_round + 1
    reason = (body.reason or "").strip() or None
    if plan.status == "results_published":
        raise PlanResultsPublished(f"考核计划《{plan.title}》的结果已公布")
    if round_ >= 2:
        if await repository.has_sittings(session, plan.id):
            raise PlanStarted(f"考核计划《{plan.title}》已有人员开始考试，不能重新抽取")
        if reason is None:
            raise RedrawReasonRequired(
                f"这是第 {round_} 次抽取：重新抽取须说明原因，原因与结果一并公开", field="reason"
            )
    criteria = _criteria(plan)
    since = datetime.combine(criteria.examined_since, time(0), CHINA).astimezone(UTC)
    rows = await repository.pool(
        session,
        organiser_region=plan.organiser_region,
        roles=criteria.roles,
        kinds=criteria.kinds,
        product_categories=criteria.product_categories,
        examined_since=since,
    )
    examined_on = (
        {
            row.id: as_utc(row.last_submitted).astimezone(CHINA).date()
            for row in rows
            if row.last_submitted is not None
        }
        if plan.exclude_examined_within_months > 0
        else {}
    )
    seed = body.seed or draw.new_seed()
    inputs = sampling.build_inputs(
        seed=seed,
        criteria=criteria,
        eligible=[row.id for row in rows],
        examined_on=examined_on,
        sample_count=plan.sample_count,
        sample_ratio=plan.sample_ratio,
    )
    if not inputs["pool"]:
        raise DrawPoolEmpty(
            f"辖区内没有符合条件的在任质量安全管理人员（另有 {len(inputs['excluded'])} 人因近期已考核被排除）"
        )
    drawn = sampling.run(inputs)
    now = utcnow()
    await _write_candidates(session, plan, {row.id: row for row in rows}, drawn, round_, now)
    record = ExamDraw(
        plan_id=plan.id,
        round=round_,
        seed=seed,
        algorithm=draw.ALGORITHM,
        inputs=sampling.canonical(inputs),
        inputs_sha256=sampling.digest(inputs),
        drawn=json.dumps(drawn),
        reason=reason,
        drawn_by=caller.username,
        drawn_at=now,
    )
    session.add(record)
    plan.status, plan.draw_round, plan.seed, plan.algorithm = "published", round_, seed, draw.ALGORITHM
    plan.candidate_count, plan.inputs_sha256, plan.published_at = (
        len(inputs["pool"]),
        record.inputs_sha256,
        now,
    )
    try:
        await session.flush()
    except IntegrityError as exc:  # another draw of this round committed first
        raise DrawConcurrent() from exc
    emit(
        session,
        EXAM_PLAN_PUBLISHED,
        ExamPlanPublished(
            plan_id=plan.id,
            organiser_region=plan.organiser_region,
            title=plan.title,
            mode=plan.mode,  # type: ignore[arg-type]
            period_start=plan.period_start,
            period_end=plan.period_end,
            draw_round=round_,
            seed=seed,
            algorithm=draw.ALGORITHM,
            candidate_count=len(inputs["pool"]),
            sampled=len(drawn),
            inputs_sha256=record.inputs_sha256,
        ),
        region=plan.organiser_region[:6],
        enterprise_id=None,
    )
    return record


async def _write_candidates(
    session: AsyncSession,
    plan: ExamPlan,
    pooled: dict[str, Any],
    drawn: list[str],
    round_: int,
    now: datetime,
) -> None:
    """The drawn become (or stay) sampled, each with their rank; those a re-draw no longer draws are withdrawn.
    A newly sampled person (new, or back after a withdrawal) is notified now. One insert and at most three
    updates, each one executemany."""
    stmt = select(ExamCandidate.id, ExamCandidate.manager_id, ExamCandidate.status).where(
        ExamCandidate.plan_id == plan.id
    )
    existing = {row.manager_id: row for row in (await session.execute(stmt)).all()}
    fresh, kept, returned = [], [], []
    for rank, manager_id in enumerate(drawn, start=1):
        row = pooled[manager_id]
        snapshot = {
            "enterprise_id": row.enterprise_id,
            "uscc": row.uscc,
            "role": row.role,
            "kind": row.kind,
            "region_code": row.region_code,
            "station_code": row.station_code,
            "name": row.name,
            "draw_round": round_,
            "rank": rank,
            "status": "sampled",
        }
        old = existing.get(manager_id)
        if old is None:
            fresh.append({"plan_id": plan.id, "manager_id": manager_id, **snapshot, "notified_at": now})
        elif old.status == "sampled":
            kept.append({"id": old.id, **snapshot})
        else:
            returned.append({"id": old.id, **snapshot, "notified_at": now, "read_at": None})
    chosen = set(drawn)
    withdrawn = [
        {"id": old.id, "status": "withdrawn"}
        for manager_id, old in existing.items()
        if manager_id not in chosen and old.status == "sampled"
    ]
    for rows in (kept, returned, withdrawn):
        if rows:
            await session.execute(update(ExamCandidate), rows)
    if fresh:
        for row, candidate_id in zip(fresh, new_ids(len(fresh)), strict=True):
            row["id"] = candidate_id
        await session.execute(insert(ExamCandidate), fresh)


def draw_public(record: ExamDraw) -> DrawPublic:
    inputs = json.loads(record.inputs)
    return DrawPublic(
        plan_id=record.plan_id,
        round=record.round,
        seed=record.seed,
        algorithm=record.algorithm,
        inputs=inputs,
        inputs_sha256=record.inputs_sha256,
        pool_size=len(inputs.get("pool", [])),
        excluded_count=len(inputs.get("excluded", [])),
        drawn=json.loads(record.drawn),
        reason=record.reason,
        drawn_by=record.drawn_by,
        drawn_at=record.drawn_at,
    )


async def verify(session: AsyncSession, plan: ExamPlan, round_: int) -> DrawVerification:
    """Re-run a round from its recorded inputs: the digest, the drawn persons, and the inputs' own rules."""
    record = await repository.get_draw(session, plan.id, round_)
    if record is None:
        raise DrawNotFound(f"考核计划《{plan.title}》没有第 {round_} 轮抽取（共 {plan.draw_round} 轮）")
    recorded = json.loads(record.drawn)
    result = sampling.verify(record.inputs, record.inputs_sha256, recorded)
    return DrawVerification(
        plan_id=plan.id,
        round=round_,
        algorithm=record.algorithm,
        seed=record.seed,
        inputs_sha256=record.inputs_sha256,
        digest_matches=result.digest_matches,
        result_matches=result.result_matches,
        consistent=result.consistent,
        recorded=recorded,
        recomputed=result.recomputed,
        verified=result.digest_matches and result.result_matches and result.consistent,
    )


# ------------------------------------------------------------------------------------------------ notices


def require_enterprise(caller: Caller) -> str:
    if caller.is_regulator or caller.uscc is None:
        raise NoticesEnterpriseOnly("考核通知发送至被抽中人员所在单位的企业账号；监管部门请查看考核对象名单")
    return caller.uscc


async def mark_read(
    *, session: AsyncSession, caller: Caller, candidate_id: str
) -> tuple[ExamCandidate, ExamPlan]:
    """The unit opened the notice of one of its sampled persons (the first time is kept)."""
    require_enterprise(caller)
    candidate, plan = await access.candidate_for(session, caller, candidate_id)
    if candidate.status != "sampled":
        raise access.ExamCandidateNotFound(f"考核对象 {candidate_id} 已不在考核名单中")
    if candidate.read_at is None:
        candidate.read_at = utcnow()
    return candidate, plan
