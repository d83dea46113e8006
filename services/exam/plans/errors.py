"""The errors of exam plans and their draws: stable codes, Chinese titles. Not-found and organiser-only are
``services.exam.access``'s (one rule for plans, sittings and results)."""

from __future__ import annotations

from services.common.errors import Conflict, Forbidden, Invalid, NotFound


class PlansRegulatorOnly(Forbidden):
    code, title = "EXAM_PLANS_REGULATOR_ONLY", "只有市场监管部门可以制定考核计划"


class NoticesEnterpriseOnly(Forbidden):
    code, title = "EXAM_NOTICES_ENTERPRISE_ONLY", "考核通知仅面向被抽中人员所在单位的企业账号"


class PlanPeriodInvalid(Invalid):
    code, title = "EXAM_PLAN_PERIOD_INVALID", "考核计划的起止日期有误"


class PlanSampleInvalid(Invalid):
    code, title = "EXAM_PLAN_SAMPLE_INVALID", "抽取人数与抽取比例须且只须填写一项"


class PlanCategoryUnknown(Invalid):
    code, title = "EXAM_PLAN_PRODUCT_CATEGORY_UNKNOWN", "产品类别不在产品类别目录中"


class BlueprintUnfillable(Invalid):
    code, title = "EXAM_BLUEPRINT_UNFILLABLE", "题库中可用的题目不足以按组卷规则组卷"


class RedrawReasonRequired(Invalid):
    code, title = "EXAM_REDRAW_REASON_REQUIRED", "重新抽取须说明原因"


class PlanStarted(Conflict):
    code, title = "EXAM_PLAN_STARTED", "考核已开始，不能重新抽取"


class PlanResultsPublished(Conflict):
    code, title = "EXAM_PLAN_RESULTS_PUBLISHED", "考核结果已公布，不能重新抽取"


class DrawPoolEmpty(Conflict):
    code, title = "EXAM_DRAW_POOL_EMPTY", "没有符合条件的考核对象可供抽取"


class DrawConcurrent(Conflict):
    code, title = "EXAM_DRAW_CONCURRENT", "该计划正在被同时抽取，请刷新后重试"


class DrawNotFound(NotFound):
    code, title = "EXAM_DRAW_NOT_FOUND", "该考核计划没有这一轮抽取"
