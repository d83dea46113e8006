"""The refusals of an import (the whole file) and the codes of its row errors."""

from __future__ import annotations

from services.common.errors import Conflict, Invalid, NotFound, QSRError

# The refusals of a file and the row errors every import shares live in the kernel's sheet reader.
from services.common.sheets import (
    CellRequired,
    ChoiceInvalid,
    ImportColumnsMissing,
    ImportFileType,
    ImportFileUnreadable,
    NumberInvalid,
)

__all__ = [
    "CellRequired",
    "ChoiceInvalid",
    "ImportColumnsMissing",
    "ImportFileType",
    "ImportFileUnreadable",
    "NumberInvalid",
]


class ImportFileTooLarge(QSRError):
    status, code, title = 413, "IMPORT_FILE_TOO_LARGE", "导入文件过大"


class ImportJobNotFound(NotFound):
    code, title = "IMPORT_JOB_NOT_FOUND", "导入任务不存在或不在您的管辖范围内"


# Row errors (never raised: their code and title document what an error sheet may hold).
class DateInvalid(Invalid):
    code, title = "IMPORT_DATE_INVALID", "不是有效的日期"


class ValueInvalid(Invalid):
    code, title = "IMPORT_VALUE_INVALID", "取值不符合要求"


class DuplicateInFile(Invalid):
    code, title = "IMPORT_DUPLICATE_IN_FILE", "文件中统一社会信用代码重复"


class UnitOutOfJurisdiction(Invalid):
    code, title = "IMPORT_UNIT_OUT_OF_JURISDICTION", "该单位已在台账中，但注册地不在您的管辖范围内"


class WriteConflict(Conflict):
    code, title = "IMPORT_WRITE_CONFLICT", "导入时该单位被同时修改或录入"
