"""Who may see which plan and which sampled person: the one place exam decides it, so every route of plans,
sittings and results is scoped the same way.

* A regulator sees the plans organised within its region (a county: its own and its stations'; a city or
  the province: every plan below it), and their candidates. A station sees its own plans only.
* An enterprise account sees a plan only through its own sampled persons (``candidate.uscc``), and nothing
  of any other unit.

An unseen plan or candidate is a 404, never a 403, so that nobody learns what exists outside their reach."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.errors import Forbidden, NotFound
from services.common.regions import within
from services.exam.models import ExamCandidate, ExamPlan


class ExamPlanNotFound(NotFound):
    code, title = "EXAM_PLAN_NOT_FOUND", "考核计划不存在或不在您的管辖范围内"


class ExamCandidateNotFound(NotFound):
    code, title = "EXAM_CANDIDATE_NOT_FOUND", "考核对象不存在或不在您的管辖范围内"


class ExamOrganiserOnly(Forbidden):
    code, title = "EXAM_ORGANISER_ONLY", "只有组织考核的市场监管部门可以办理"


def sees_plan(caller: Caller, plan: ExamPlan) -> bool:
    """A regulator whose region contains the organiser's (enterprise accounts go through their candidates)."""
    return caller.is_regulator and within(caller.region_code, plan.organiser_region)


def require_organiser(caller: Caller, plan: ExamPlan) -> None:
    """The organising bureau itself, or a bureau above it (a city may act for its county)."""
    if not sees_plan(caller, plan):
        raise ExamOrganiserOnly(f"考核计划《{plan.title}》由 {plan.organiser_region} 组织")


async def plan_for(session: AsyncSession, caller: Caller, plan_id: str) -> ExamPlan:
    """The plan if the caller may see it: a regulator within reach, or a unit with a person sampled in it."""
    plan = await session.get(ExamPlan, plan_id)
    if plan is not None:
        if sees_plan(caller, plan):
            return plan
        if caller.uscc is not None:
            own = await session.scalar(
                select(ExamCandidate.id)
                .where(ExamCandidate.plan_id == plan_id, ExamCandidate.uscc == caller.uscc)
                .limit(1)
            )
            if own is not None:
                return plan
    raise ExamPlanNotFound(f"考核计划 {plan_id} 不存在或不在您的管辖范围内")


async def candidate_for(
    session: AsyncSession, caller: Caller, candidate_id: str
) -> tuple[ExamCandidate, ExamPlan]:
    """A sampled person and their plan, for a regulator who sees the plan or the person's own unit."""
    row = (
        await session.execute(
            select(ExamCandidate, ExamPlan)
            .join(ExamPlan, ExamPlan.id == ExamCandidate.plan_id)
            .where(ExamCandidate.id == candidate_id)
        )
    ).first()
    if row is not None:
        candidate, plan = row
        if sees_plan(caller, plan) or (caller.uscc is not None and caller.uscc == candidate.uscc):
            return candidate, plan
    raise ExamCandidateNotFound(f"考核对象 {candidate_id} 不存在或不在您的管辖范围内")
