"""Import jobs as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.common.db import UTCDateTime

ERRORS_IN_RESPONSE = 100


class ImportErrorPublic(BaseModel):
    row: int = Field(title="行号（与表格一致，表头为第1行）")
    column: str = Field(title="列")
    code: str = Field(title="错误代码")
    message: str = Field(title="错误说明")
    uscc: str | None = Field(default=None, title="该行的统一社会信用代码（原样）")


class ImportJobPublic(BaseModel):
    id: str
    filename: str
    dry_run: bool = Field(description="试导入：只校验，不写入")
    status: str = Field(description="running 进行中 | done 完成 | failed 中断")
    total_rows: int = Field(description="数据行数（不含表头和空行）")
    created: int = Field(description="新录入单位数")
    updated: int = Field(description="有变化而更新的单位数")
    unchanged: int = Field(description="与台账一致、未写入的行数")
    rejected: int = Field(description="有错误、未导入的行数")
    error_count: int = Field(description="错误总条数（一行可有多条）")
    errors: list[ImportErrorPublic] = Field(
        description=f"前 {ERRORS_IN_RESPONSE} 条错误；全部错误请下载错误清单"
    )
    created_by: str
    region_code: str
    created_at: UTCDateTime
