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


ENTERPRISE_REGISTERED = define(
    "registry.enterprise.registered", 1, EnterpriseRegistered, "生产/销售单位已录入"
)
ENTERPRISE_UPDATED = define(
    "registry.enterprise.updated", 1, EnterpriseRegistered, "生产/销售单位信息已更新（全量快照）"
)
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
