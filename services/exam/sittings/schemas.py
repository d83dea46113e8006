"""Request and response models of papers and sittings. Answers are given and shown in the labels the person
sees (A, B, … in the order shown; ``true`` / ``false`` for 判断题), never as the version's own keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.common.db import UTCDateTime
from services.exam.bank.schemas import Category, QuestionType

AnswerList = list[str]
MAX_BATCH = 500


class OptionShown(BaseModel):
    label: str = Field(title="选项（按显示顺序 A、B、C…）")
    text: str = Field(title="选项内容")


class PaperQuestionPublic(BaseModel):
    """A question of a paper as the person sees it: no key, no explanation."""

    position: int = Field(title="题号")
    question_id: str
    category: Category
    type: QuestionType
    points: float = Field(title="分值")
    stem: str = Field(title="题干")
    options: list[OptionShown] = Field(title="选项（已按本试卷打乱顺序）")


class AnsweredQuestion(PaperQuestionPublic):
    answer: AnswerList | None = Field(None, title="已保存的答案（显示标签）")
    revision: int | None = Field(None, title="已保存答案的修订号")
    saved_at: UTCDateTime | None = None


class PaperPublic(BaseModel):
    """试卷: the paper drawn for a candidate (printable for 纸笔考核)."""

    paper_id: str
    candidate_id: str
    plan_id: str
    attempt: int = Field(title="第几次考试（2 起为补考）")
    seed: str = Field(title="组卷种子（可复现）")
    max_score: float
    questions: list[PaperQuestionPublic]


class SittingPublic(BaseModel):
    """考试: a sitting as the person sees it, timed by the server's clock."""

    id: str
    candidate_id: str
    plan_id: str
    paper_id: str
    attempt: int
    mode: Literal["online", "paper"]
    status: Literal["in_progress", "submitted"]
    submission: Literal["person", "deadline", "examiner"] | None = Field(
        title="交卷方式：本人 person / 到时自动 deadline / 考官录入 examiner"
    )
    started_at: UTCDateTime
    deadline_at: UTCDateTime = Field(title="截止时间")
    remaining_seconds: int = Field(title="剩余秒数（以服务器时间为准）")
    submitted_at: UTCDateTime | None
    max_score: float
    score: float | None = Field(title="得分（交卷后）")
    passed: bool | None = Field(title="是否合格（交卷后；结果以公布为准）")
    questions: list[AnsweredQuestion]


class AnswerIn(BaseModel):
    revision: int = Field(ge=1, title="修订号：同一题每次保存加 1；不大于已保存的修订号时不改变答案")
    answer: AnswerList = Field(
        max_length=8, title='答案（显示标签，如 ["A","C"]；判断题 ["true"]；空为清除）'
    )


class BatchAnswerIn(AnswerIn):
    question_id: str = Field(max_length=36)


class AnswerSaved(BaseModel):
    question_id: str
    revision: int = Field(title="已保存的修订号")
    answer: AnswerList = Field(title="已保存的答案")
    saved_at: UTCDateTime
    applied: bool = Field(title="本次提交是否改变了答案（重复或过期的保存为 false）")


class BatchSaved(BaseModel):
    items: list[AnswerSaved]


class PaperAnswerIn(BaseModel):
    """One answer of a paper sitting, by 题号 (``position``) or question id."""

    position: int | None = Field(None, ge=1, title="题号")
    question_id: str | None = Field(None, max_length=36)
    answer: AnswerList = Field(max_length=8)


class PaperSittingIn(BaseModel):
    answers: list[PaperAnswerIn] = Field(max_length=MAX_BATCH, title="各题答案（未列出的题按未作答计）")


class ImportErrorPublic(BaseModel):
    row: int
    column: str
    code: str
    message: str
    candidate_id: str | None


class PaperSittingImportReport(BaseModel):
    rows: int = Field(title="数据行数")
    created: int = Field(title="新录入的答卷数")
    unchanged: int = Field(title="已录入且相同、未改变的答卷数")
    rejected: int = Field(title="有错误的行数")
    rejected_candidates: list[str] = Field(title="因有错误行而未录入的考核对象")
    errors: list[ImportErrorPublic]


class RetakePublic(BaseModel):
    candidate_id: str
    attempt: int
    paper_id: str
    repeated_questions: int = Field(title="与以往试卷重复的题目数（题库不足时才会重复）")
