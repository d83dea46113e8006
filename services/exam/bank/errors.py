"""The errors of the question bank: stable codes, Chinese titles."""

from __future__ import annotations

from services.common.errors import Conflict, Forbidden, Invalid, NotFound, QSRError


class QuestionNotFound(NotFound):
    code, title = "QUESTION_NOT_FOUND", "题目不存在或不在您的管辖范围内"


class QuestionVersionNotFound(NotFound):
    code, title = "QUESTION_VERSION_NOT_FOUND", "该题目没有这个版本"


class BankRegulatorOnly(Forbidden):
    code, title = "QUESTION_BANK_REGULATOR_ONLY", "题库（含答案）仅限监管人员查看和维护"


class QuestionEditForbidden(Forbidden):
    code, title = "QUESTION_EDIT_FORBIDDEN", "只能维护本级题库的题目"


class QuestionVersionStale(Conflict):
    code, title = "QUESTION_VERSION_STALE", "题目已被他人修改，请刷新后重试"


class QuestionCodeDuplicate(Conflict):
    code, title = "QUESTION_CODE_DUPLICATE", "本级题库已有该题目编号"


class QuestionRetired(Conflict):
    code, title = "QUESTION_RETIRED", "题目已停用，不能再修改"


class QuestionInvalid(Invalid):
    code, title = "QUESTION_INVALID", "题目内容有误"


class QuestionKeyInvalid(Invalid):
    code, title = "QUESTION_KEY_INVALID", "答案与题型或选项不符"


class QuestionOptionsInvalid(Invalid):
    code, title = "QUESTION_OPTIONS_INVALID", "选项与题型不符"


class QuestionCategoryUnknown(Invalid):
    code, title = "QUESTION_PRODUCT_CATEGORY_UNKNOWN", "产品类别不在产品类别目录中"


class ImportTooLarge(QSRError):
    status, code, title = 413, "QUESTION_IMPORT_TOO_LARGE", "导入文件过大"


class ImportConflict(Conflict):
    code, title = "QUESTION_IMPORT_CONFLICT", "导入时相同编号的题目被同时录入，请重新导入"


class DuplicateInFile(Invalid):
    code, title = "IMPORT_DUPLICATE_IN_FILE", "文件中题目编号重复"
