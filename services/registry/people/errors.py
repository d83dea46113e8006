"""Errors of the managers (质量安全管理人员)."""

from __future__ import annotations

from services.common.errors import Conflict, Invalid, NotFound


class ManagerNotFound(NotFound):
    code, title = "MANAGER_NOT_FOUND", "质量安全管理人员不存在"


class InvalidIdNumber(Invalid):
    code, title = "ID_NUMBER_INVALID", "居民身份证号码无效"


class InvalidPhone(Invalid):
    code, title = "PHONE_INVALID", "联系电话格式有误"


class ManagerDateInvalid(Invalid):
    code, title = "MANAGER_DATE_INVALID", "任免日期有误"


class NothingToChange(Invalid):
    code, title = "MANAGER_CHANGE_EMPTY", "未提交要更正的内容"


class TrainingInvalid(Invalid):
    code, title = "TRAINING_INVALID", "培训记录有误"


class PersonDisqualified(Conflict):
    code, title = "MANAGER_DISQUALIFIED", "该人员考核不合格，重新考核合格前不得担任质量安全管理人员"


class AlreadyAppointed(Conflict):
    code, title = "MANAGER_ALREADY_APPOINTED", "该人员已在本单位担任此职务"


class ManagerAlreadyRemoved(Conflict):
    code, title = "MANAGER_ALREADY_REMOVED", "该人员已免职"


class PostOccupied(Conflict):
    code, title = "MANAGER_POST_OCCUPIED", "本单位该职务已有在任人员，请先免职或注明接任对象"


class ReplacesInvalid(Invalid):
    code, title = "MANAGER_REPLACES_INVALID", "被接任人员须为本单位同一职务的在任人员"


class EnterpriseClosed(Conflict):
    code, title = "ENTERPRISE_STATUS_FINAL", "单位已注销、吊销或迁出，不能再任命人员"
