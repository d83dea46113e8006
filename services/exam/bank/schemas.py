"""Question bank request and response models."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.common.db import UTCDateTime
from services.exam.bank.rules import Draft

Category = Literal["law_regulation", "standard", "professional_knowledge"]
QuestionType = Literal["single_choice", "multiple_choice", "true_false"]
Role = Literal["quality_director", "quality_officer"]
Kind = Literal["production", "sales"]


class OptionIn(BaseModel):
    key: str = Field(title="选项标识（A–H）", min_length=1, max_length=1)
    text: str = Field(title="选项内容", min_length=1, max_length=1000)


class QuestionContentIn(BaseModel):
    category: Category = Field(
        title="类别：法律法规 law_regulation / 标准 standard / 专业知识 professional_knowledge"
    )
    type: QuestionType = Field(
        title="题型：单选题 single_choice / 多选题 multiple_choice / 判断题 true_false"
    )
    stem: str = Field(title="题干", min_length=1, max_length=4000)
    roles: list[Role] = Field(
        default_factory=lambda: ["quality_director", "quality_officer"],
        title="适用岗位：质量安全总监 quality_director / 质量安全员 quality_officer",
        min_length=1,
        max_length=2,
    )
    kinds: list[Kind] = Field(
        default_factory=lambda: ["production", "sales"],
        title="适用单位：生产单位 production / 销售单位 sales",
        min_length=1,
        max_length=2,
    )
    product_categories: list[str] = Field(
        default_factory=list, title="适用产品类别（产品类别目录代码；空 = 全部）", max_length=50
    )
    options: list[OptionIn] = Field(default_factory=list, title="选项（判断题不设选项）", max_length=8)
    answer: list[str] = Field(title="答案：选项标识，判断题为 true / false", min_length=1, max_length=8)
    difficulty: int = Field(3, title="难度 1–5", ge=1, le=5)
    source: str | None = Field(None, title="出处（法规条款或标准编号）", max_length=500)
    explanation: str | None = Field(None, title="解析", max_length=4000)

    def draft(self) -> Draft:
        return Draft(
            category=self.category,
            type=self.type,
            stem=self.stem,
            roles=list(self.roles),
            kinds=list(self.kinds),
            product_categories=list(self.product_categories),
            options=[o.model_dump() for o in self.options],
            answer=list(self.answer),
            difficulty=self.difficulty,
            source=self.source,
            explanation=self.explanation,
        )


class QuestionCreate(QuestionContentIn):
    code: str | None = Field(
        None,
        title="题目编号（本级题库内唯一；不填则自动生成）",
        min_length=1,
        max_length=50,
        pattern=r"^\S+$",
    )


class QuestionUpdate(QuestionContentIn):
    version: int = Field(title="所修改的版本号（乐观并发控制）", ge=1)


class OptionPublic(BaseModel):
    key: str
    text: str


class QuestionPublic(BaseModel):
    id: str
    code: str
    owner_region: str = Field(title="所属题库：省局为省级代码，市、县为本地题目")
    scope: Literal["province", "local"]
    version: int = Field(title="本记录的版本号")
    current_version: int = Field(title="题目当前版本号")
    status: Literal["active", "retired"]
    category: Category
    type: QuestionType
    stem: str
    roles: list[Role]
    kinds: list[Kind]
    product_categories: list[str]
    options: list[OptionPublic]
    answer: list[str]
    difficulty: int
    source: str | None
    explanation: str | None
    version_created_by: str
    version_created_at: UTCDateTime
    retired_at: UTCDateTime | None = None


def content_public(row: Any) -> dict[str, Any]:
    """The content fields of a stored question or version, as the API shows them."""
    return {
        "category": row.category,
        "type": row.type,
        "stem": row.stem,
        "roles": [
            r
            for r, on in (("quality_director", row.for_director), ("quality_officer", row.for_officer))
            if on
        ],
        "kinds": [k for k, on in (("production", row.for_production), ("sales", row.for_sales)) if on],
        "product_categories": json.loads(row.product_categories),
        "options": json.loads(row.options),
        "answer": json.loads(row.answer),
        "difficulty": row.difficulty,
        "source": row.source,
        "explanation": row.explanation,
    }


class ImportErrorPublic(BaseModel):
    row: int = Field(title="行号（与表格中显示的一致，表头为第1行）")
    column: str = Field(title="列")
    code: str
    message: str
    question_code: str | None = Field(None, title="题目编号")


class ImportReport(BaseModel):
    rows: int = Field(title="读取的题目行数")
    created: int = Field(title="新增题目")
    new_versions: int = Field(title="内容有变化、生成新版本的题目")
    unchanged: int = Field(title="内容未变化的题目")
    rejected: int = Field(title="有错误未导入的行")
    errors: list[ImportErrorPublic]
