"""The errors of results, summonses, rectifications and key corrections: stable codes, Chinese titles."""

from __future__ import annotations

from services.common.errors import Conflict, Forbidden, Invalid, NotFound


class ResultNotFound(NotFound):
    code, title = "EXAM_RESULT_NOT_FOUND", "考核结果不存在或不在您的管辖范围内"


class PlanNotPublished(Conflict):
    code, title = "EXAM_PLAN_NOT_PUBLISHED", "考核计划尚未发布抽取结果，不能公布考核结果"


class NoResultsToPublish(Conflict):
    code, title = "EXAM_NO_RESULTS_TO_PUBLISH", "该考核计划还没有可公布的考核结果"


class SummonsNotFound(NotFound):
    code, title = "EXAM_SUMMONS_NOT_FOUND", "约谈记录不存在或不在您的管辖范围内"


class SummonsAlreadyHeld(Conflict):
    code, title = "EXAM_SUMMONS_ALREADY_HELD", "该约谈已登记为已约谈"


class RectificationNotFound(NotFound):
    code, title = "EXAM_RECTIFICATION_NOT_FOUND", "督促整改记录不存在或不在您的管辖范围内"


class RectificationClosed(Conflict):
    code, title = "EXAM_RECTIFICATION_CLOSED", "该督促整改已办结"


class RegulatorOnly(Forbidden):
    code, title = "EXAM_REGULATOR_ONLY", "只有市场监管部门可以办理"


class DateInFuture(Invalid):
    code, title = "EXAM_DATE_IN_FUTURE", "日期不能晚于今天"


class MonthInvalid(Invalid):
    code, title = "EXAM_MONTH_INVALID", "月份须为 YYYY-MM"


class KeyUnchanged(Invalid):
    code, title = "EXAM_KEY_UNCHANGED", "更正后的答案与原答案相同"
