"""Request and response models of results, summonses, rectifications, key corrections and counts."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["quality_director", "quality_officer"]
Kind = Literal["production", "sales"]
Outcome = Literal["qualified", "failed"]


class PublishReport(BaseModel):
    plan_id: str
    status: str = Field(title="计划状态")
    published_on: date | None
    published: int = Field(title="本次公布的结果数")
    failed: int = Field(title="其中不合格")
    rectifications: list[str] = Field(title="督促整改记录")
    summonses: list[str] = Field(title="约谈记录")


class PublishedRow(BaseModel):
    """公布名单的一行: 姓名脱敏，不含身份证号码."""

    result_id: str
    name_masked: str = Field(title="姓名")
    enterprise_name: str = Field(title="单位名称")
    role: Role
    role_name: str = Field(title="岗位")
    result: Outcome
    result_name: str = Field(title="考核结果")
    score: float = Field(title="得分")
    max_score: float = Field(title="满分")


class PublishedList(BaseModel):
    plan_id: str
    title: str
    published_on: date | None
    items: list[PublishedRow]


class ResultPublic(BaseModel):
    id: str
    plan_id: str
    plan_title: str
    sitting_id: str
    manager_id: str
    name_masked: str = Field(title="姓名（脱敏）")
    enterprise_id: str
    enterprise_name: str | None
    region_code: str
    role: Role
    kind: Kind
    score: float
    max_score: float
    result: Outcome
    status: Literal["pending", "published", "superseded"]
    published_on: date | None
    correction_of: str | None
    reason: str | None


class WrongAnswer(BaseModel):
    """答错（或未全对）的题目: shown to the person only after publication."""

    question_id: str
    version: int
    type: str
    stem: str = Field(title="题干")
    options: list[dict[str, str]]
    given: list[str] = Field(title="作答")
    key: list[str] = Field(title="标准答案")
    points: float = Field(title="分值")
    awarded: float = Field(title="得分")
    explanation: str | None = Field(title="解析")


class ResultDetail(ResultPublic):
    wrong_answers: list[WrongAnswer] | None = Field(
        description="公布后列出答错的题目（题干、作答、标准答案、解析）；公布前为空"
    )


class SummonsPublic(BaseModel):
    id: str
    enterprise_id: str
    enterprise_name: str | None
    region_code: str
    failures: int = Field(title="不合格人次")
    result_ids: list[str]
    summoned_on: date
    reason: str
    status: Literal["due", "held"]
    held_on: date | None
    held_by: str | None
    outcome: str | None
    recorded_by: str | None


class SummonsHeld(BaseModel):
    """约谈已进行: 日期、约谈人、结果."""

    held_on: date
    held_by: str = Field(min_length=1, max_length=200, description="约谈人（单位、姓名）")
    outcome: str = Field(min_length=1, max_length=4000, description="约谈结果")


class RectificationPublic(BaseModel):
    id: str
    enterprise_id: str
    enterprise_name: str | None
    plan_id: str
    region_code: str
    kind: Kind
    manager_ids: list[str]
    opened_on: date
    due_on: date
    status: Literal["open", "done"]
    overdue: bool
    closed_on: date | None
    closed_by: str | None
    note: str | None


class RectificationClose(BaseModel):
    note: str = Field(min_length=1, max_length=4000, description="整改情况（如已更换为考核合格人员）")


class KeyCorrectionIn(BaseModel):
    answer: list[str] = Field(min_length=1, description="更正后的标准答案（选项字母，或 true / false）")
    reason: str = Field(min_length=1, max_length=2000, description="更正原因")


class KeyCorrectionPublic(BaseModel):
    id: str
    question_id: str
    version: int
    old_answer: list[str]
    new_answer: list[str]
    reason: str
    rescored: int = Field(title="重新评分的答卷数")
    changed: int = Field(title="结果改变的答卷数")
    corrections: list[str] = Field(title="因更正而公布的新结果")


class RegionCounts(BaseModel):
    region_code: str
    production_persons: int = Field(title="考核生产单位质量安全管理人员（人次）")
    sales_persons: int = Field(title="考核销售单位质量安全管理人员（人次）")
    rectified_units: int = Field(title="督促考核不合格单位整改（家次）")


class MonthCounts(BaseModel):
    month: str
    items: list[RegionCounts]
    total: RegionCounts
