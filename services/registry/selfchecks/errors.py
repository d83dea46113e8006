"""Errors of the self-checks (日管控、周排查、月调度)."""

from __future__ import annotations

from services.common.errors import Conflict, Invalid, NotFound


class PeriodInvalid(Invalid):
    code, title = "SELF_CHECK_PERIOD_INVALID", "自查期间格式有误"


class PeriodInFuture(Invalid):
    code, title = "SELF_CHECK_PERIOD_FUTURE", "不能填报尚未开始的期间"


class ContentInvalid(Invalid):
    code, title = "SELF_CHECK_CONTENT_INVALID", "自查记录内容有误"


class ManagerInvalid(Invalid):
    code, title = "SELF_CHECK_MANAGER_INVALID", "填报人不是本单位相应岗位的在任人员"


class RiskPointUnknown(Invalid):
    code, title = "SELF_CHECK_RISK_POINT_UNKNOWN", "检查项目不在本单位的风险管控清单中"


class AttachmentUnknown(Invalid):
    code, title = "SELF_CHECK_ATTACHMENT_UNKNOWN", "附件不存在或不属于本单位"


class UnitClosed(Conflict):
    code, title = "ENTERPRISE_STATUS_FINAL", "单位已注销、吊销或迁出，此后的期间无须也不能再填报"


class SelfCheckNotFound(NotFound):
    code, title = "SELF_CHECK_NOT_FOUND", "该期间没有自查记录"


class DateRangeInvalid(Invalid):
    code, title = "SELF_CHECK_DATE_RANGE_INVALID", "统计期间有误"
