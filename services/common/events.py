"""The event envelope (CloudEvents 1.0) and the typed, versioned catalogue of every event QSR publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.common.db import utcnow
from services.common.ids import new_id

P = TypeVar("P", bound=BaseModel)


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured JSON, with the extensions ``region`` and ``enterpriseid``."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    region: str
    enterpriseid: str | None = None
    data: dict[str, Any]


@dataclass(frozen=True)
class EventSpec(Generic[P]):
    """One event of the catalogue: its CloudEvents type, its NATS subject and its payload model."""

    type: str
    subject: str
    payload: type[P]
    title: str

    @property
    def service(self) -> str:
        return self.subject.split(".")[1]


CATALOGUE: dict[str, EventSpec[Any]] = {}


def define(name: str, version: int, payload: type[P], title: str) -> EventSpec[P]:
    spec = EventSpec(type=f"qsr.{name}.v{version}", subject=f"qsr.{name}", payload=payload, title=title)
    if spec.type in CATALOGUE:
        raise ValueError(f"event type {spec.type} defined twice")
    CATALOGUE[spec.type] = spec
    return spec


def make_event(
    spec: EventSpec[P], payload: P, *, region: str, enterprise_id: str | None, subject: str | None = None
) -> CloudEvent:
    return CloudEvent(
        id=new_id(),
        source=f"/qsr/{spec.service}",
        type=spec.type,
        subject=subject or enterprise_id,
        time=utcnow(),
        region=region,
        enterpriseid=enterprise_id,
        data=payload.model_dump(mode="json"),
    )


def decode_payload(event: CloudEvent) -> BaseModel:
    """The typed payload of an event; raises KeyError for an unknown type, ValidationError for bad data."""
    return CATALOGUE[event.type].payload.model_validate(event.data)


# ---------------------------------------------------------------------------------------------------------
# Payloads. Field names follow GLOSSARY.md.

EnterpriseKind = Literal["production", "sales"]
SalesChannel = Literal["wholesale", "retail"]
Tier = Literal["A", "B", "C", "D"]
SupervisionClass = Literal["routine", "key", "special"]


class EnterpriseRegistered(BaseModel):
    enterprise_id: str
    uscc: str
    name: str
    kind: EnterpriseKind
    sales_channel: SalesChannel | None
    region_code: str
    employees: int
    revenue_wan_yuan: float
    entry_reason: str
    operating_status: str
    station_code: str | None = None
    size_year: int | None = None
    product_categories: list[str] = Field(default_factory=list)


class SpotCheckRecorded(BaseModel):
    spot_check_id: str
    enterprise_id: str
    product: str
    batch: str
    verdict: Literal["passed", "failed"]
    failed_items: list[str] = Field(default_factory=list)
    sampled_on: date


class TierAssigned(BaseModel):
    enterprise_id: str
    tier: Tier
    previous_tier: Tier | None
    rule: str
    reason: str


class ClassReason(BaseModel):
    rule: str
    text: str
    evidence: list[str] = Field(default_factory=list, description="ids of the events behind the decision")


class ClassChanged(BaseModel):
    """Sent when the class or the locking of a unit changes (``from_class`` equals ``to_class`` if only the
    locking did)."""

    enterprise_id: str
    from_class: SupervisionClass
    to_class: SupervisionClass
    reasons: list[ClassReason]
    source: Literal["automatic", "manual", "held"] = "automatic"
    locked: bool = False
    visit_every_months: int | None = None
    pack: str | None = None
    pack_version: str | None = None


class Escalated(BaseModel):
    """挂牌督办/上一级监管: supervision moves to the level above (or back, ``escalated`` false)."""

    enterprise_id: str
    escalated: bool
    responsible_level: str
    responsible_region: str
    reasons: list[ClassReason]
    pack: str
    pack_version: str


class SpotCheckOverturned(BaseModel):
    """复检推翻: a re-test found the product conforming; the failure no longer counts."""

    spot_check_id: str
    enterprise_id: str
    decided_on: date
    note: str = ""


class CreditRiskAssessed(BaseModel):
    """企业信用风险分类 from the credit system: A low, B general, C relatively high, D high."""

    uscc: str
    credit_class: Literal["A", "B", "C", "D"]
    assessed_on: date


ManagerRole = Literal["quality_director", "quality_officer", "principal"]
SelfCheckKind = Literal["daily_control", "weekly_review", "monthly_dispatch"]


class EnterpriseStatusChanged(BaseModel):
    """异常状态: the unit's operating status changed (停产、停业、注销、吊销、迁出, or back to normal)."""

    enterprise_id: str
    from_status: str
    to_status: str
    effective_on: date
    reason: str


class ManagerChanged(BaseModel):
    """A manager appointed, removed or disqualified. Personal data never travels in events."""

    enterprise_id: str
    manager_id: str
    role: ManagerRole
    name: str
    appointed_on: date
    removed_on: date | None = None
    reason: str | None = None


class InspectorAssigned(BaseModel):
    """监管责任人 assigned or changed; ``late`` when recorded after the working-day deadline."""

    enterprise_id: str
    inspector: str
    inspector_name: str
    previous_inspector: str | None
    effective_on: date
    recorded_on: date
    deadline: date
    late: bool


class SelfCheckOverdue(BaseModel):
    """A unit owes self-checks (日管控/周排查/月调度) it has not recorded."""

    enterprise_id: str
    kind: SelfCheckKind
    overdue_since: date
    missing_periods: int


class ExamResultPublished(BaseModel):
    """考核结果公布: a sampled manager passed or failed; a failed one may no longer hold the post. A
    correction (a regraded sitting) is a new result naming the one it replaces and why."""

    exam_id: str  # the result's id (a correction has its own)
    enterprise_id: str
    manager_id: str
    result: Literal["qualified", "failed"]
    published_on: date
    plan_id: str | None = None
    sitting_id: str | None = None
    role: Literal["quality_director", "quality_officer"] | None = None
    kind: Literal["production", "sales"] | None = None
    score: float | None = None
    max_score: float | None = None
    correction_of: str | None = None  # the result this one replaces (阅卷更正)
    reason: str | None = None


class ExamPlanPublished(BaseModel):
    """考核抽取结果公开: a plan's sampled managers were drawn (or re-drawn) and published."""

    plan_id: str
    organiser_region: str
    title: str
    mode: Literal["online", "paper", "on_site"]
    period_start: date
    period_end: date
    draw_round: int
    seed: str
    algorithm: str
    candidate_count: int  # the managers the draw chose from
    sampled: int
    inputs_sha256: str  # digest of the recorded draw inputs (GET /plans/{id}/draws shows them)


class ExamSittingSubmitted(BaseModel):
    """答卷提交: a sitting ended (by the person, at the deadline, or entered by the examiner) and was scored."""

    sitting_id: str
    plan_id: str
    enterprise_id: str
    manager_id: str
    role: Literal["quality_director", "quality_officer"]
    kind: Literal["production", "sales"]
    mode: Literal["online", "paper"]
    submission: Literal["person", "deadline", "examiner"]
    submitted_at: datetime
    score: float
    max_score: float


class ExamEnterpriseSummoned(BaseModel):
    """约谈: the unit's managers failed the exam repeatedly (多次, the pack's number within its window)."""

    summons_id: str
    enterprise_id: str
    region_code: str
    failures: int
    result_ids: list[str]
    summoned_on: date
    reason: str


class RiskPoint(BaseModel):
    point: str
    controls: str = ""


class RiskControlListAdopted(BaseModel):
    """质量安全风险管控清单: a unit adopted (a new version of) its list of key risk points."""

    enterprise_id: str
    version: int
    adopted_on: date
    points: list[RiskPoint]


class InspectionSubmitted(BaseModel):
    """现场检查: an on-site inspection was submitted from the field."""

    inspection_id: str
    enterprise_id: str
    trigger: str
    visited_on: date
    inspectors: list[str]
    findings: int


class RectificationOverdue(BaseModel):
    """整改逾期: the deadline passed without a verified rectification."""

    rectification_id: str
    finding_id: str
    enterprise_id: str
    deadline: date
    overdue_since: date


class FollowUpEscalated(BaseModel):
    """后处理升级: a re-check after rectification failed again; the case goes further (立案、公开…)."""

    finding_id: str
    enterprise_id: str
    source: str
    source_id: str
    reason: str


class CaseClosed(BaseModel):
    """立案查处结案: the outcome, which grading counts as a penalty (``heavier`` = 从重处罚)."""

    case_id: str
    enterprise_id: str
    closed_on: date
    warning: bool
    fine_yuan: float
    confiscated_yuan: float
    heavier: bool
    penalised: bool
    cause: str


class ComplaintVerified(BaseModel):
    """投诉举报核实: a verified complaint is a trigger (触发式监管) and a grading signal."""

    complaint_id: str
    enterprise_id: str
    verified_on: date
    inspection_id: str | None


class PlanPublished(BaseModel):
    """双随机、一公开: a plan's draw, published with its seed and algorithm so anyone can verify it."""

    plan_id: str
    region_code: str
    period_start: date
    period_end: date
    seed: str
    algorithm: str
    must_visit: int
    drawn: int
    candidate_count: int = 0  # the units the random draw chose from
    inputs_sha256: str = ""  # digest of the recorded draw inputs (GET /plans/{id} shows them)


class OversightReported(BaseModel):
    """督查: an upper bureau reported its audit of a lower one."""

    audit_id: str
    auditor_region: str
    audited_region: str
    period: str
    implemented: int
    total: int


ENTERPRISE_REGISTERED = define(
    "registry.enterprise.registered", 1, EnterpriseRegistered, "生产/销售单位已录入"
)
ENTERPRISE_UPDATED = define(
    "registry.enterprise.updated", 1, EnterpriseRegistered, "生产/销售单位信息已更新（全量快照）"
)
ENTERPRISE_STATUS_CHANGED = define(
    "registry.enterprise.status_changed", 1, EnterpriseStatusChanged, "单位经营状态（异常状态）变更"
)
MANAGER_APPOINTED = define("registry.manager.appointed", 1, ManagerChanged, "质量安全管理人员任命")
MANAGER_REMOVED = define("registry.manager.removed", 1, ManagerChanged, "质量安全管理人员免职")
MANAGER_DISQUALIFIED = define(
    "registry.manager.disqualified", 1, ManagerChanged, "质量安全管理人员考核不合格，不再任职"
)
INSPECTOR_ASSIGNED = define("registry.inspector.assigned", 1, InspectorAssigned, "监管责任人确定或变更")
SELF_CHECK_OVERDUE = define(
    "registry.self_check.overdue", 1, SelfCheckOverdue, "日管控/周排查/月调度记录逾期未填报"
)
EXAM_RESULT_PUBLISHED = define(
    "exam.result.published", 1, ExamResultPublished, "质量安全管理人员考核结果公布"
)
EXAM_PLAN_PUBLISHED = define("exam.plan.published", 1, ExamPlanPublished, "考核随机抽取结果公开")
EXAM_SITTING_SUBMITTED = define("exam.sitting.submitted", 1, ExamSittingSubmitted, "考核答卷已提交并评分")
EXAM_ENTERPRISE_SUMMONED = define(
    "exam.enterprise.summoned", 1, ExamEnterpriseSummoned, "单位质量安全管理人员多次考核不合格，约谈"
)
RISK_CONTROL_LIST_ADOPTED = define(
    "registry.risk_control_list.adopted", 1, RiskControlListAdopted, "单位质量安全风险管控清单（新版本）"
)
INSPECTION_SUBMITTED = define("inspection.inspection.submitted", 1, InspectionSubmitted, "现场检查已提交")
RECTIFICATION_OVERDUE = define("inspection.rectification.overdue", 1, RectificationOverdue, "整改逾期未完成")
FOLLOW_UP_ESCALATED = define(
    "inspection.follow_up.escalated", 1, FollowUpEscalated, "整改复查仍不合格，后处理升级"
)
CASE_CLOSED = define("inspection.case.closed", 1, CaseClosed, "立案查处结案（处罚结果）")
COMPLAINT_VERIFIED = define("inspection.complaint.verified", 1, ComplaintVerified, "投诉举报经核实")
PLAN_PUBLISHED = define("inspection.plan.published", 1, PlanPublished, "双随机抽取结果公开")
OVERSIGHT_REPORTED = define("inspection.oversight.reported", 1, OversightReported, "督查结果上报")
SPOT_CHECK_FAILED = define("inspection.spot_check.failed", 1, SpotCheckRecorded, "监督抽查不合格")
SPOT_CHECK_PASSED = define("inspection.spot_check.passed", 1, SpotCheckRecorded, "监督抽查合格")
TIER_ASSIGNED = define("grading.tier.assigned", 1, TierAssigned, "分层分级结果")
SPOT_CHECK_OVERTURNED = define(
    "inspection.spot_check.overturned", 1, SpotCheckOverturned, "监督抽查不合格经复检推翻"
)
CLASS_CHANGED = define("grading.class.changed", 1, ClassChanged, "分类监管类别或锁定状态变更")
ESCALATED = define("grading.escalated", 1, Escalated, "上一级监管或挂牌督办（及其解除）")
# Published by the credit system into QSR's NATS (stream QSR_CREDIT), not by a QSR service.
CREDIT_RISK_ASSESSED = define("credit.risk_class.assessed", 1, CreditRiskAssessed, "企业信用风险分类结果")


def asyncapi_document() -> dict[str, Any]:
    """The catalogue as an AsyncAPI 3.0 document, for teams that consume the events."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEvent": CloudEvent.model_json_schema()}
    for spec in CATALOGUE.values():
        key = spec.type.replace(".", "_")
        schemas[spec.payload.__name__] = spec.payload.model_json_schema()
        channels[key] = {
            "address": spec.subject,
            "title": spec.title,
            "messages": {
                key: {
                    "name": spec.type,
                    "title": spec.title,
                    "contentType": "application/cloudevents+json",
                    "payload": {
                        "allOf": [
                            {"$ref": "#/components/schemas/CloudEvent"},
                            {
                                "properties": {
                                    "type": {"const": spec.type},
                                    "data": {"$ref": f"#/components/schemas/{spec.payload.__name__}"},
                                }
                            },
                        ]
                    },
                }
            },
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{spec.service} 发布：{spec.title}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "QSR 事件目录 (event catalogue)", "version": "1"},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas},
    }
