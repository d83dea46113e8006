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


# ------------------------------------------------------------------------------------- plans and the draw
# JSON lists are Text columns (one dialect-neutral type); dates are Beijing days, timestamps UTC.


class ExamPlan(SQLModel, table=True):
    """考核计划: a county bureau's or a station's plan to examine sampled managers of its area. The paper's
    rules (blueprint, duration, pass mark, multiple-choice scoring) are copied from the policy pack when the
    plan is made, so a later pack change does not alter a running exam."""

    __tablename__ = "exam_plan"

    id: str = Field(primary_key=True, max_length=36)
    title: str = Field(max_length=200)
    organiser_region: str = Field(max_length=9, index=True)  # a county's code or a station's
    mode: str = Field(max_length=10)  # online | paper | on_site
    period_start: date
    period_end: date  # sittings may start from period_start 00:00 to period_end 24:00 (Beijing)
    roles: str = Field(sa_type=Text)  # JSON list: quality_director, quality_officer
    kinds: str = Field(sa_type=Text)  # JSON list: production, sales
    product_categories: str = Field(default="[]", sa_type=Text)  # JSON list; [] = every field
    sample_count: int | None = None
    sample_ratio: float | None = None
    exclude_examined_within_months: int
    pack: str = Field(max_length=60)  # name@version the rules were copied from
    blueprint: str = Field(sa_type=Text)  # JSON list of BlueprintItem
    duration_minutes: int
    pass_mark: float  # points (the pack's percent of the paper's total)
    max_score: float
    multiple_choice_scoring: str = Field(max_length=20)  # all_or_nothing | partial
    partial_share: float
    # The consequences' numbers, copied too (the pack's 多次, its window, the days to rectify).
    repeated_failures: int = 2
    repeated_failures_within_days: int = 730
    rectification_days: int = 30
    status: str = Field(default="draft", max_length=20, index=True)  # draft | published | results_published
    draw_round: int = 0  # the latest draw (0: not drawn)
    seed: str | None = Field(default=None, max_length=64)
    algorithm: str | None = Field(default=None, max_length=30)
    candidate_count: int = 0
    inputs_sha256: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    published_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    results_published_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    results_published_by: str | None = Field(default=None, max_length=100)


class ExamDraw(SQLModel, table=True):
    """Every draw of a plan, the first and each re-draw (never silent: a re-draw has its reason)."""

    __tablename__ = "exam_draw"

    plan_id: str = Field(primary_key=True, max_length=36)
    round: int = Field(primary_key=True)
    seed: str = Field(max_length=64)
    algorithm: str = Field(max_length=30)
    inputs: str = Field(sa_type=Text)  # canonical JSON of the recorded inputs
    inputs_sha256: str = Field(max_length=64)
    drawn: str = Field(sa_type=Text)  # JSON list of manager ids in draw order
    reason: str | None = Field(default=None, sa_type=Text)
    drawn_by: str = Field(max_length=100)
    drawn_at: datetime = Field(sa_column=_ts())


class ExamCandidate(SQLModel, table=True):
    """A sampled manager of a plan (考核对象), as they stood when drawn. A re-draw withdraws those it no
    longer draws (``status`` withdrawn) and adds the new ones; the unit's account is notified."""

    __tablename__ = "exam_candidate"
    __table_args__ = (UniqueConstraint("plan_id", "manager_id"),)

    id: str = Field(primary_key=True, max_length=36)
    plan_id: str = Field(max_length=36, index=True)
    manager_id: str = Field(max_length=36, index=True)
    enterprise_id: str = Field(max_length=36, index=True)
    uscc: str = Field(max_length=18, index=True)
    role: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    region_code: str = Field(max_length=6, index=True)
    station_code: str | None = Field(default=None, max_length=9)
    name: str = Field(max_length=100)  # shown masked
    draw_round: int
    rank: int  # position in the draw order
    status: str = Field(default="sampled", max_length=20)  # sampled | withdrawn
    notified_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    read_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # the unit opened the notice


# ------------------------------------------------------------------------------------- papers and sittings


class ExamPaper(SQLModel, table=True):
    """A candidate's paper, drawn from the plan's blueprint when first opened and fixed from then on:
    ``questions`` is a JSON list of {question_id, version, category, type, points, options: [keys in the
    order shown]}; reproducible from ``seed``. ``attempt`` 2, 3, … are retakes."""

    __tablename__ = "exam_paper"
    __table_args__ = (UniqueConstraint("candidate_id", "attempt"),)

    id: str = Field(primary_key=True, max_length=36)
    candidate_id: str = Field(max_length=36, index=True)
    plan_id: str = Field(max_length=36, index=True)
    manager_id: str = Field(max_length=36, index=True)
    attempt: int = 1
    seed: str = Field(max_length=64)
    questions: str = Field(sa_type=Text)
    max_score: float
    created_at: datetime = Field(sa_column=_ts())


class ExamSitting(SQLModel, table=True):
    """One sitting of a paper: online (timed by the server) or on paper (entered by the examiner)."""

    __tablename__ = "exam_sitting"

    id: str = Field(primary_key=True, max_length=36)
    paper_id: str = Field(max_length=36, unique=True)
    candidate_id: str = Field(max_length=36, index=True)
    plan_id: str = Field(max_length=36, index=True)
    manager_id: str = Field(max_length=36, index=True)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    role: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    mode: str = Field(max_length=10)  # online | paper
    status: str = Field(default="in_progress", max_length=20, index=True)  # in_progress | submitted
    started_at: datetime = Field(sa_column=_ts())
    deadline_at: datetime = Field(sa_column=_ts())
    submitted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    submission: str | None = Field(default=None, max_length=20)  # person | deadline | examiner
    started_by: str = Field(max_length=100)
    score: float | None = None
    max_score: float
    passed: bool | None = None


class ExamAnswer(SQLModel, table=True):
    """The latest saved answer to one question of a sitting (autosave): a save with a revision not above the
    stored one changes nothing, so a repeated or late-arriving save is counted once."""

    __tablename__ = "exam_answer"

    sitting_id: str = Field(primary_key=True, max_length=36)
    question_id: str = Field(primary_key=True, max_length=36)
    revision: int
    answer: str = Field(sa_type=Text)  # JSON list of option keys, or ["true"] / ["false"]
    saved_at: datetime = Field(sa_column=_ts())
    points: float | None = None  # awarded when the sitting is scored


class ExamKeyCorrection(SQLModel, table=True):
    """阅卷更正: a question version's key was found wrong and corrected; every sitting that used it was
    rescored, and each changed result was published as a correction."""

    __tablename__ = "exam_key_correction"

    id: str = Field(primary_key=True, max_length=36)
    question_id: str = Field(max_length=36, index=True)
    version: int
    old_answer: str = Field(sa_type=Text)
    new_answer: str = Field(sa_type=Text)
    reason: str = Field(sa_type=Text)
    rescored: int = 0
    changed: int = 0
    corrected_by: str = Field(max_length=100)
    corrected_at: datetime = Field(sa_column=_ts())


# ------------------------------------------------------------------------------ results and consequences


class ExamResult(SQLModel, table=True):
    """A sitting's result. ``status`` pending until the plan's results are published (公布); a regrade after
    publication adds a new result (``correction_of`` the old one, with ``reason``) and supersedes the old."""

    __tablename__ = "exam_result"

    id: str = Field(primary_key=True, max_length=36)
    sitting_id: str = Field(max_length=36, index=True)
    plan_id: str = Field(max_length=36, index=True)
    manager_id: str = Field(max_length=36, index=True)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    role: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    score: float
    max_score: float
    result: str = Field(max_length=20)  # qualified | failed
    status: str = Field(default="pending", max_length=20, index=True)  # pending | published | superseded
    correction_of: str | None = Field(default=None, max_length=36)
    reason: str | None = Field(default=None, sa_type=Text)
    published_on: date | None = Field(default=None, index=True)
    created_at: datetime = Field(sa_column=_ts())


class ExamSummons(SQLModel, table=True):
    """约谈: a unit whose managers failed repeatedly (the pack's 多次). Raised automatically when the last of
    those failures is published; the bureau records when it was held, who held it, and the outcome."""

    __tablename__ = "exam_summons"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    failures: int
    result_ids: str = Field(sa_type=Text)  # JSON list
    summoned_on: date
    reason: str = Field(sa_type=Text)
    status: str = Field(default="due", max_length=10)  # due | held
    held_on: date | None = None
    held_by: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, sa_type=Text)
    recorded_by: str | None = Field(default=None, max_length=100)


class ExamRectification(SQLModel, table=True):
    """督促整改: a unit with failed managers in a plan is urged to put qualified persons in post; tracked
    until the bureau closes it (附件5 counts the units urged, 家次)."""

    __tablename__ = "exam_rectification"
    __table_args__ = (UniqueConstraint("enterprise_id", "plan_id"),)

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    plan_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    kind: str = Field(max_length=20)
    manager_ids: str = Field(sa_type=Text)  # JSON list of the failed managers
    opened_on: date = Field(index=True)
    due_on: date
    status: str = Field(default="open", max_length=10, index=True)  # open | done
    closed_on: date | None = None
    closed_by: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, sa_type=Text)


CONTENT_COLUMNS = tuple(QuestionContent.model_fields)
"""The columns a question's version holds (and copies from the question when it is made)."""
