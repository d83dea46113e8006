"""Exam tables: the question bank (题库) with every version of a question, and exam's own projection of the
units and managers registry announces (the candidates of the sampled exams)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class QuestionContent(SQLModel):
    """What a version of a question says; an edit that changes any of it makes a new version."""

    category: str = Field(max_length=30, index=True)  # law_regulation | standard | professional_knowledge
    for_director: bool = True  # 适用岗位: quality_director
    for_officer: bool = True  # 适用岗位: quality_officer
    for_production: bool = True  # 适用单位: production
    for_sales: bool = True  # 适用单位: sales
    product_categories: str = Field(default="[]", sa_type=Text)  # JSON list of codes; [] = every field
    type: str = Field(max_length=20, index=True)  # single_choice | multiple_choice | true_false
    stem: str = Field(sa_type=Text)
    options: str = Field(default="[]", sa_type=Text)  # JSON list of {"key": "A", "text": …}
    answer: str = Field(sa_type=Text)  # JSON list of option keys, or ["true"] / ["false"]
    difficulty: int = 3  # 1 easy … 5 hard
    source: str | None = Field(default=None, max_length=500)
    explanation: str | None = Field(default=None, sa_type=Text)
    content_sha256: str = Field(max_length=64)


class Question(QuestionContent, table=True):
    """A question of the bank as it stands (its latest version). ``owner_region`` is the bureau whose bank it
    is: the province's code for the provincial bank, a city's or county's for its local questions."""

    __tablename__ = "question"
    __table_args__ = (UniqueConstraint("owner_region", "code"),)

    id: str = Field(primary_key=True, max_length=36)
    owner_region: str = Field(max_length=6, index=True)
    code: str = Field(max_length=50)  # 题目编号: stable across versions and re-imports
    version: int = 1
    status: str = Field(default="active", max_length=10, index=True)  # active | retired
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(sa_column=_ts())
    retired_by: str | None = Field(default=None, max_length=100)
    retired_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class QuestionVersion(QuestionContent, table=True):
    """Every version of every question, the latest included; read-only once written (papers keep the version
    they were drawn with)."""

    __tablename__ = "question_version"

    question_id: str = Field(primary_key=True, max_length=36)
    version: int = Field(primary_key=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class ExamUnit(SQLModel, table=True):
    """A unit as registry announced it (``registry.enterprise.*``): enough to choose candidates within a
    jurisdiction without calling registry."""

    __tablename__ = "exam_unit"

    id: str = Field(primary_key=True, max_length=36)
    uscc: str = Field(max_length=18)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # production | sales
    region_code: str = Field(max_length=6, index=True)
    station_code: str | None = Field(default=None, max_length=9, index=True)
    product_categories: str = Field(default="[]", sa_type=Text)  # JSON list of codes
    operating_status: str = Field(default="normal", max_length=30)


class ExamManager(SQLModel, table=True):
    """A unit's quality director or officer as registry announced them (``registry.manager.*``). The name is
    kept to be shown masked; no personal data travels in the events, so none is here."""

    __tablename__ = "exam_manager"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    role: str = Field(max_length=20)  # quality_director | quality_officer
    name: str = Field(max_length=100)
    status: str = Field(max_length=20, index=True)  # appointed | removed | disqualified
    appointed_on: date
    removed_on: date | None = None


CONTENT_COLUMNS = tuple(QuestionContent.model_fields)
"""The columns a question's version holds (and copies from the question when it is made)."""
