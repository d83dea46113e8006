"""Requests and answers of the managers: appointment, correction, removal, trainings."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from services.common.db import UTCDateTime
from services.registry.people.rules import ManagerRole

Text50 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ManagerAppoint(BaseModel):
    """任命: a person appointed to a post of the unit."""

    role: ManagerRole = Field(
        description="quality_director 质量安全总监 / quality_officer 质量安全员 / principal 主要负责人"
    )
    name: Text50 = Field(description="姓名")
    id_number: str = Field(max_length=30, description="居民身份证号码（18位）")
    phone: str | None = Field(default=None, max_length=30, description="手机或带区号的固定电话")
    appointed_on: date = Field(description="任命日期")
    note: str | None = Field(default=None, max_length=500, description="备注（如任命文件文号）")
    replaces: str | None = Field(
        default=None,
        max_length=36,
        description="接任：被接任的本单位同一职务在任人员编号；该人员于任命日期免职（质量安全总监、"
        "主要负责人已有在任人员时必填）",
    )


class ManagerChange(BaseModel):
    """更正: a correction of the name or phone, with its reason (``phone: null`` removes the phone)."""

    name: Text50 | None = None
    phone: str | None = Field(default=None, max_length=30)
    reason: Reason = Field(description="更正原因")


class ManagerRemoval(BaseModel):
    """免职: the person leaves the post on ``removed_on``."""

    removed_on: date
    reason: Reason = Field(description="免职原因")


class ManagerPublic(BaseModel):
    id: str
    enterprise_id: str
    role: ManagerRole
    name: str
    id_number: str | None = Field(description="居民身份证号码（按角色脱敏）")
    phone: str | None = Field(default=None, description="联系电话（按角色脱敏）")
    appointed_on: date
    removed_on: date | None = None
    removal_reason: str | None = None
    active: bool
    exam_status: str | None = Field(
        default=None, description="考核状态：qualified 合格 / disqualified 考核不合格；未参加考核为空"
    )
    exam_status_since: date | None = None
    created_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class TrainingIn(BaseModel):
    """培训记录."""

    held_on: date
    topic: Text200
    hours: float = Field(gt=0, le=1000, description="学时")
    provider: Text200 | None = Field(default=None, description="培训机构")


class TrainingPublic(BaseModel):
    id: str
    manager_id: str
    held_on: date
    topic: str
    hours: float
    provider: str | None
    created_by: str
    created_at: UTCDateTime
