"""质量安全管理人员: a unit's 质量安全总监, 质量安全员 and 主要负责人 — appointment, correction, removal,
trainings — and what a published exam result (考核结果) does to the person in every unit.

A person is known across units by the keyed hash of the ID number (``pii.Vault.lookup_hash``); the number
itself and the phone are stored sealed and shown masked unless the caller may read personal data. Events
carry no personal data.

Writers: a regulator supervising the unit, or the unit's own enterprise account (the unit keeps its own
duty system).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError

from services.common.app import DbDep
from services.common.auth import ENTERPRISE, Caller, CallerDep
from services.common.db import UTCDateTime, today_cn, utcnow
from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import (
    MANAGER_APPOINTED,
    MANAGER_DISQUALIFIED,
    MANAGER_REMOVED,
    CloudEvent,
    EventSpec,
    ExamResultPublished,
    ManagerChanged,
)
from services.common.ids import new_id
from services.common.messaging import PoisonEvent, emit
from services.common.settings import Settings
from services.registry import audit, pii, repository, service
from services.registry.models import Enterprise, Manager, PersonQualification, Training
from services.registry.schemas import FINAL_STATUSES, EnterpriseUpdate

log = logging.getLogger(__name__)

router = APIRouter(tags=["managers 质量安全管理人员"])


class ManagerRole(StrEnum):
    quality_director = "quality_director"  # 质量安全总监
    quality_officer = "quality_officer"  # 质量安全员
    principal = "principal"  # 主要负责人


ROLE_NAMES = {"quality_director": "质量安全总监", "quality_officer": "质量安全员", "principal": "主要负责人"}
# A unit names one quality director and has one principal (企业主要负责人全面负责，质量安全总监、质量安全员
# 分级负责); it may have several officers. Units entered before this rule may still hold several.
SINGLE_POSTS = frozenset({ManagerRole.quality_director, ManagerRole.principal})

# 考核结果 of a person. ``failed`` is kept for a result recorded without its consequence; both bar the post.
QUALIFIED, FAILED, DISQUALIFIED = "qualified", "failed", "disqualified"
BARRED = frozenset({FAILED, DISQUALIFIED})
EXAM_FAILED_REASON = "考核不合格"


# ------------------------------------------------------------------------------------------------ errors


class ManagerNotFound(NotFound):
    code, title = "MANAGER_NOT_FOUND", "质量安全管理人员不存在"


class InvalidIdNumber(Invalid):
    code, title = "ID_NUMBER_INVALID", "居民身份证号码无效"


class InvalidPhone(Invalid):
    code, title = "PHONE_INVALID", "联系电话格式有误"


class ManagerDateInvalid(Invalid):
    code, title = "MANAGER_DATE_INVALID", "任免日期有误"


class NothingToChange(Invalid):
    code, title = "MANAGER_CHANGE_EMPTY", "未提交要更正的内容"


class TrainingInvalid(Invalid):
    code, title = "TRAINING_INVALID", "培训记录有误"


class PersonDisqualified(Conflict):
    code, title = "MANAGER_DISQUALIFIED", "该人员考核不合格，重新考核合格前不得担任质量安全管理人员"


class AlreadyAppointed(Conflict):
    code, title = "MANAGER_ALREADY_APPOINTED", "该人员已在本单位担任此职务"


class ManagerAlreadyRemoved(Conflict):
    code, title = "MANAGER_ALREADY_REMOVED", "该人员已免职"


class PostOccupied(Conflict):
    code, title = "MANAGER_POST_OCCUPIED", "本单位该职务已有在任人员，请先免职或注明接任对象"


class ReplacesInvalid(Invalid):
    code, title = "MANAGER_REPLACES_INVALID", "被接任人员须为本单位同一职务的在任人员"


class EnterpriseClosed(Conflict):
    code, title = "ENTERPRISE_STATUS_FINAL", "单位已注销、吊销或迁出，不能再任命人员"


# ------------------------------------------------------------------------------------------------ rules

_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
# Provinces (GB/T 2260 first two digits), plus 81/82/83 of the residence permits of Hong Kong, Macao and
# Taiwan residents, which follow GB 11643 too.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
_PHONE = re.compile(r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$")


def normalise_id_number(value: str, *, today: date) -> str:
    """居民身份证号码 (GB 11643-1999): 18 characters, the last the ISO 7064 MOD 11-2 check character over the
    first 17; the birth date a real, past date. Returns the number upper-cased; raises ValueError (Chinese).

    The birth place is checked only down to the province: county codes change every year and a person keeps
    the number issued under an abolished code (python-stdnum's full place check would refuse real people)."""
    number = ric.compact(value)
    if len(number) != 18:
        raise ValueError(f"居民身份证号码应为18位，收到 {len(number)} 位")
    if not _ID_NUMBER.match(number):
        raise ValueError("居民身份证号码前17位应为数字，末位为数字或X")
    if number[:2] not in _PROVINCES:
        raise ValueError("居民身份证号码的地址码无效")
    if number[-1] != ric.calc_check_digit(number):
        raise ValueError("居民身份证号码校验码不符，请核对")
    try:
        born = ric.get_birth_date(number)
    except StdnumValidationError:
        raise ValueError("居民身份证号码中的出生日期无效") from None
    if born > today or born.year < 1900:
        raise ValueError("居民身份证号码中的出生日期无效")
    return number


def normalise_phone(value: str | None) -> str | None:
    """A mobile (11 digits) or a landline with its area code; spaces dropped. Raises ValueError (Chinese)."""
    if value is None:
        return None
    phone = re.sub(r"\s+", "", value)
    if not phone:
        return None
    if not _PHONE.match(phone):
        raise ValueError(f"{value} 不是有效的手机号码或带区号的固定电话")
    return phone


def exam_outcome(current: PersonQualification | None, result: str, published_on: date) -> str | None:
    """The person's new exam status after a published result, or None when the result is older than what is
    already known (results can arrive out of order; the newest publication wins)."""
    if current is not None and published_on < current.since:
        return None
    return DISQUALIFIED if result == FAILED else QUALIFIED


# ------------------------------------------------------------------------------------------------ schemas

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


# ------------------------------------------------------------------------------------------------ access


async def require_keeper(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    """The unit, if the caller may keep its duty system: a regulator supervising it, or the unit's own
    enterprise account. 404 when the caller may not see the unit, 403 when it may only read it."""
    enterprise = await repository.get_readable(session, caller, enterprise_id)
    if enterprise is None:
        raise service.EnterpriseNotFound()
    if caller.role == ENTERPRISE and caller.uscc is not None and caller.uscc == enterprise.uscc:
        return enterprise
    return await service.require(session, caller, enterprise_id, write=True)


async def require_reader(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    return await service.require(session, caller, enterprise_id)


async def _lock(session: AsyncSession, enterprise: Enterprise) -> None:
    """Serialise changes to one unit's managers (PostgreSQL row lock; SQLite serialises writers anyway). The
    row is read again under the lock: a principal's appointment changes the unit's record at its version."""
    await session.execute(
        select(Enterprise)
        .where(Enterprise.id == enterprise.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _lock_person(session: AsyncSession, person: str) -> None:
    """Serialise an appointment of a person with an exam result about the same person: without it, an
    appointment committed while a failed result is applied could escape the removal (PostgreSQL advisory
    lock for the transaction; SQLite serialises writers anyway). Taken before any unit's row lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"qsr-person:{person}"}
        )


async def _manager_of(session: AsyncSession, enterprise_id: str, manager_id: str) -> Manager:
    manager = await session.get(Manager, manager_id)
    if manager is None or manager.enterprise_id != enterprise_id:
        raise ManagerNotFound(f"本单位没有编号为 {manager_id} 的质量安全管理人员")
    return manager


# ------------------------------------------------------------------------------------------------ reading


async def _qualifications(session: AsyncSession, hashes: Iterable[str]) -> dict[str, PersonQualification]:
    wanted = list(set(hashes))
    if not wanted:
        return {}
    stmt = select(PersonQualification).where(PersonQualification.id_number_hash.in_(wanted))  # type: ignore[attr-defined]
    return {q.id_number_hash: q for q in (await session.execute(stmt)).scalars().all()}


def _present(
    manager: Manager, qualification: PersonQualification | None, caller: Caller, settings: Settings
) -> ManagerPublic:
    vault = pii.vault(settings)
    return ManagerPublic(
        id=manager.id,
        enterprise_id=manager.enterprise_id,
        role=ManagerRole(manager.role),
        name=manager.name,
        id_number=pii.show(
            vault.open(manager.id_number_enc), caller=caller, settings=settings, mask=pii.mask_id_number
        ),
        phone=pii.show(vault.open(manager.phone_enc), caller=caller, settings=settings, mask=pii.mask_phone),
        appointed_on=manager.appointed_on,
        removed_on=manager.removed_on,
        removal_reason=manager.removal_reason,
        active=manager.removed_on is None,
        exam_status=qualification.exam_status if qualification else None,
        exam_status_since=qualification.since if qualification else None,
        created_by=manager.created_by,
        created_at=manager.created_at,
        updated_at=manager.updated_at,
    )


async def present_all(
    session: AsyncSession, caller: Caller, settings: Settings, managers: Sequence[Manager]
) -> list[ManagerPublic]:
    """Managers as the caller may see them (masked by role), with each person's exam status."""
    known = await _qualifications(session, (m.id_number_hash for m in managers))
    return [_present(m, known.get(m.id_number_hash), caller, settings) for m in managers]


async def managers_of(
    session: AsyncSession, enterprise_id: str, *, include_removed: bool = False
) -> Sequence[Manager]:
    stmt = select(Manager).where(Manager.enterprise_id == enterprise_id)
    if not include_removed:
        stmt = stmt.where(Manager.removed_on.is_(None))  # type: ignore[union-attr]
    stmt = stmt.order_by(Manager.role, Manager.appointed_on, Manager.id)
    return (await session.execute(stmt)).scalars().all()


# ------------------------------------------------------------------------------------------------ writing


def _audited(manager: Manager) -> dict[str, Any]:
    """What the audit trail compares (sealed fields redacted by ``audit.diff``; the lookup hash left out)."""
    return {
        "role": manager.role,
        "name": manager.name,
        "id_number_enc": manager.id_number_enc,
        "phone_enc": manager.phone_enc,
        "appointed_on": manager.appointed_on,
        "removed_on": manager.removed_on,
        "removal_reason": manager.removal_reason,
    }


def _announcement(manager: Manager) -> ManagerChanged:
    return ManagerChanged(
        enterprise_id=manager.enterprise_id,
        manager_id=manager.id,
        role=manager.role,  # type: ignore[arg-type]
        name=manager.name,
        appointed_on=manager.appointed_on,
        removed_on=manager.removed_on,
        reason=manager.removal_reason,
    )


def _record_change(
    session: AsyncSession,
    caller: Caller | None,
    enterprise: Enterprise,
    manager: Manager,
    event: EventSpec[ManagerChanged],
    *,
    action: str,
    changes: dict[str, list[Any]],
    reason: str | None,
    actor: str | None = None,
) -> None:
    """Audit a change of a manager's post and announce it (appointed, removed, disqualified)."""
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="manager",
        entity_id=manager.id,
        action=action,
        changes=changes,
        reason=reason,
        actor=actor,
    )
    emit(session, event, _announcement(manager), region=enterprise.region_code, enterprise_id=enterprise.id)


async def refresh_duties(session: AsyncSession, enterprise: Enterprise) -> None:
    """Keep ``has_quality_director``: an active quality director who is not barred by an exam result."""
    await session.flush()
    stmt = (
        select(func.count())
        .select_from(Manager)
        .outerjoin(PersonQualification, PersonQualification.id_number_hash == Manager.id_number_hash)
        .where(
            Manager.enterprise_id == enterprise.id,
            Manager.role == ManagerRole.quality_director.value,
            Manager.removed_on.is_(None),  # type: ignore[union-attr]
            or_(
                PersonQualification.exam_status.is_(None),  # type: ignore[attr-defined]
                PersonQualification.exam_status.notin_(BARRED),  # type: ignore[attr-defined]
            ),
        )
    )
    enterprise.has_quality_director = (await session.execute(stmt)).scalar_one() > 0
    enterprise.updated_at = utcnow()


async def appoint(
    *, session: AsyncSession, caller: Caller, settings: Settings, enterprise_id: str, data: ManagerAppoint
) -> Manager:
    """任命: refused for a person barred by a failed exam, and for a person already holding the post here.

    A unit names one quality director and one principal: while someone holds that post, a new appointment
    must name whom it replaces (``replaces``); the predecessor is then removed as of the new appointment
    date in the same transaction (接任). Officers may be several; ``replaces`` works for them too. A
    principal's appointment also brings the unit's record (主要负责人) up to date."""
    enterprise = await require_keeper(session, caller, enterprise_id)
    if enterprise.operating_status in FINAL_STATUSES:
        raise EnterpriseClosed()
    today = today_cn()
    try:
        id_number = normalise_id_number(data.id_number, today=today)
    except ValueError as exc:
        raise InvalidIdNumber(str(exc), field="id_number") from None
    try:
        phone = normalise_phone(data.phone)
    except ValueError as exc:
        raise InvalidPhone(str(exc), field="phone") from None
    if data.appointed_on > today:
        raise ManagerDateInvalid("任命日期不能晚于今天", field="appointed_on")
    vault = pii.vault(settings)
    person = vault.lookup_hash(id_number)
    await _lock_person(session, person)
    await _lock(session, enterprise)
    qualification = await session.get(PersonQualification, person)
    if qualification is not None and qualification.exam_status in BARRED:
        raise PersonDisqualified(
            f"{data.name} 自 {qualification.since} 起考核不合格，重新考核合格前不得担任{ROLE_NAMES[data.role]}"
        )
    holding = await session.execute(
        select(Manager.id).where(
            Manager.enterprise_id == enterprise.id,
            Manager.role == data.role.value,
            Manager.id_number_hash == person,
            Manager.removed_on.is_(None),  # type: ignore[union-attr]
        )
    )
    if holding.first() is not None:
        raise AlreadyAppointed(f"{data.name} 已是本单位在任的{ROLE_NAMES[data.role]}")
    if data.replaces is not None:
        predecessor: Manager | None = await _predecessor(session, enterprise, data)
    else:
        predecessor = None
        if data.role in SINGLE_POSTS:
            await _refuse_if_occupied(session, enterprise, data)
    now = utcnow()
    manager = Manager(
        id=new_id(),
        enterprise_id=enterprise.id,
        role=data.role.value,
        name=data.name,
        id_number_enc=vault.seal(id_number),  # type: ignore[arg-type]
        id_number_hash=person,
        phone_enc=vault.seal(phone),
        appointed_on=data.appointed_on,
        created_by=caller.username,
        created_at=now,
        updated_at=now,
    )
    if predecessor is not None:
        _end(
            session,
            caller,
            enterprise,
            predecessor,
            removed_on=data.appointed_on,
            reason=f"由{data.name}接任",
        )
    session.add(manager)
    _record_change(
        session,
        caller,
        enterprise,
        manager,
        MANAGER_APPOINTED,
        action="appointed",
        changes=audit.diff({}, _audited(manager)),
        reason=data.note
        or f"任命{ROLE_NAMES[data.role]}" + (f"，接任{predecessor.name}" if predecessor is not None else ""),
    )
    await refresh_duties(session, enterprise)
    if data.role == ManagerRole.principal:
        record: dict[str, str | None] = {"principal_name": data.name}
        # The phone follows the person: another person without one clears the predecessor's number; the
        # person the record already names keeps the stored one unless a new one is given.
        if phone is not None or data.name != enterprise.principal_name:
            record["principal_phone"] = phone
        await _sync_principal(
            session,
            caller,
            settings,
            enterprise,
            record,
            reason=f"任命主要负责人{data.name}（{data.appointed_on}）",
        )
    return manager


async def _predecessor(session: AsyncSession, enterprise: Enterprise, data: ManagerAppoint) -> Manager:
    """The manager named in ``replaces``: in post in this unit, in the same role, appointed no later."""
    predecessor = await session.get(Manager, data.replaces)
    if predecessor is None or predecessor.enterprise_id != enterprise.id:
        raise ReplacesInvalid(f"本单位没有编号为 {data.replaces} 的质量安全管理人员", field="replaces")
    if predecessor.role != data.role.value:
        raise ReplacesInvalid(
            f"{predecessor.name} 是本单位的{ROLE_NAMES[predecessor.role]}，不能由{ROLE_NAMES[data.role]}接任",
            field="replaces",
        )
    if predecessor.removed_on is not None:
        raise ManagerAlreadyRemoved(
            f"{predecessor.name} 已于 {predecessor.removed_on} 免职，无需接任；请去掉 replaces 后重新任命",
            field="replaces",
        )
    if data.appointed_on < predecessor.appointed_on:
        raise ManagerDateInvalid(
            f"接任日期不能早于 {predecessor.name} 的任命日期（{predecessor.appointed_on}）",
            field="appointed_on",
        )
    return predecessor


async def _refuse_if_occupied(session: AsyncSession, enterprise: Enterprise, data: ManagerAppoint) -> None:
    """409 while someone holds a post the unit may fill only once (several from before the rule: all named)."""
    holders = (
        (
            await session.execute(
                select(Manager)
                .where(
                    Manager.enterprise_id == enterprise.id,
                    Manager.role == data.role.value,
                    Manager.removed_on.is_(None),  # type: ignore[union-attr]
                )
                .order_by(Manager.appointed_on, Manager.id)
            )
        )
        .scalars()
        .all()
    )
    if not holders:
        return
    post = ROLE_NAMES[data.role]
    named = "、".join(f"{m.name}（自 {m.appointed_on} 起）" for m in holders)
    raise PostOccupied(
        f"本单位已有在任的{post}：{named}。一个单位只设一名{post}：请先将其免职，"
        f"或在 replaces 中填写被接任人员的编号，由{data.name}接任",
        field="role",
        holders=[{"id": m.id, "name": m.name, "appointed_on": m.appointed_on.isoformat()} for m in holders],
    )


async def _sync_principal(
    session: AsyncSession,
    caller: Caller,
    settings: Settings,
    enterprise: Enterprise,
    record: dict[str, str | None],
    *,
    reason: str,
) -> None:
    """Bring the unit's record (主要负责人姓名、电话) in step with its principal, through the unit's own
    change path: version, audit entry and ``registry.enterprise.updated`` as for any change of the unit
    (nothing when it already says so). One way only: changing the record never touches the managers."""
    await service.apply_change(
        session=session,
        caller=caller,
        settings=settings,
        enterprise=enterprise,
        change=EnterpriseUpdate(version=enterprise.version, reason=reason, **record),
        checked=record.keys(),
    )


async def correct(
    *,
    session: AsyncSession,
    caller: Caller,
    settings: Settings,
    enterprise_id: str,
    manager_id: str,
    change: ManagerChange,
) -> Manager:
    """更正: the name or phone of a manager in post, with the reason (audited; the ID number is the person,
    so a wrong one is a removal and a new appointment). A principal whom the unit's record names is
    corrected there too."""
    enterprise = await require_keeper(session, caller, enterprise_id)
    await _lock(session, enterprise)
    manager = await _manager_of(session, enterprise.id, manager_id)
    if manager.removed_on is not None:
        raise ManagerAlreadyRemoved(f"{manager.name} 已于 {manager.removed_on} 免职，不能再更正")
    given = change.model_fields_set - {"reason"}
    if not given:
        raise NothingToChange("请提交要更正的姓名或联系电话")
    before = _audited(manager)
    vault = pii.vault(settings)
    if "name" in given and change.name is not None:
        manager.name = change.name
    if "phone" in given:
        try:
            phone = normalise_phone(change.phone)
        except ValueError as exc:
            raise InvalidPhone(str(exc), field="phone") from None
        if phone != vault.open(manager.phone_enc):  # sealing is randomised: reseal only a real change
            manager.phone_enc = vault.seal(phone)
    changes = audit.diff(before, _audited(manager))
    if not changes:
        return manager
    manager.updated_at = utcnow()
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="manager",
        entity_id=manager.id,
        action="corrected",
        changes=changes,
        reason=change.reason,
    )
    enterprise.updated_at = utcnow()
    # Only when the record names this person: a later import may have named someone else since.
    if manager.role == ManagerRole.principal.value and enterprise.principal_name == before["name"]:
        record: dict[str, str | None] = {}
        if "name" in changes:
            record["principal_name"] = manager.name
        if "phone" in changes:
            record["principal_phone"] = vault.open(manager.phone_enc)
        await _sync_principal(
            session, caller, settings, enterprise, record, reason=f"更正主要负责人信息：{change.reason}"
        )
    return manager


def _end(
    session: AsyncSession,
    caller: Caller,
    enterprise: Enterprise,
    manager: Manager,
    *,
    removed_on: date,
    reason: str,
) -> None:
    """免职 of a manager in post (dates checked by the caller): audited and announced."""
    before = _audited(manager)
    manager.removed_on = removed_on
    manager.removal_reason = reason
    manager.updated_at = utcnow()
    _record_change(
        session,
        caller,
        enterprise,
        manager,
        MANAGER_REMOVED,
        action="removed",
        changes=audit.diff(before, _audited(manager)),
        reason=reason,
    )


async def remove(
    *,
    session: AsyncSession,
    caller: Caller,
    enterprise_id: str,
    manager_id: str,
    removal: ManagerRemoval,
) -> Manager:
    """免职: the manager leaves the post; the record stays in the unit's history. The unit's record keeps
    the name of a principal removed without a successor (it is corrected when the next one is appointed)."""
    enterprise = await require_keeper(session, caller, enterprise_id)
    await _lock(session, enterprise)
    manager = await _manager_of(session, enterprise.id, manager_id)
    if manager.removed_on is not None:
        raise ManagerAlreadyRemoved(f"{manager.name} 已于 {manager.removed_on} 免职")
    if removal.removed_on > today_cn():
        raise ManagerDateInvalid("免职日期不能晚于今天", field="removed_on")
    if removal.removed_on < manager.appointed_on:
        raise ManagerDateInvalid(f"免职日期不能早于任命日期（{manager.appointed_on}）", field="removed_on")
    _end(session, caller, enterprise, manager, removed_on=removal.removed_on, reason=removal.reason)
    await refresh_duties(session, enterprise)
    return manager


async def add_training(
    *, session: AsyncSession, caller: Caller, enterprise_id: str, manager_id: str, data: TrainingIn
) -> Training:
    """培训记录 of a manager (also of one already removed: the record completes the history)."""
    enterprise = await require_keeper(session, caller, enterprise_id)
    manager = await _manager_of(session, enterprise.id, manager_id)
    if data.held_on > today_cn():
        raise TrainingInvalid("培训日期不能晚于今天", field="held_on")
    training = Training(
        id=new_id(),
        manager_id=manager.id,
        held_on=data.held_on,
        topic=data.topic,
        hours=data.hours,
        provider=data.provider,
        created_by=caller.username,
        created_at=utcnow(),
    )
    session.add(training)
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="training",
        entity_id=training.id,
        action="recorded",
        changes=audit.diff(
            {}, {"manager_id": manager.id, "held_on": data.held_on, "topic": data.topic, "hours": data.hours}
        ),
        reason=f"{manager.name} 参加培训",
    )
    return training


# ------------------------------------------------------------------------------------------------ exam results


async def on_exam_result(session: AsyncSession, event: CloudEvent, payload: ExamResultPublished) -> None:
    """考核结果公布. ``failed``: the person (by ID number, in every unit) may no longer hold any post — each
    appointment in force ends on the publication date and is announced as disqualified. ``qualified``: the
    person may be appointed again (a disqualified person is requalified)."""
    manager = await session.get(Manager, payload.manager_id)
    if manager is None:
        raise PoisonEvent(f"考核结果 {payload.exam_id} 指向不存在的质量安全管理人员 {payload.manager_id}")
    if manager.enterprise_id != payload.enterprise_id:
        raise PoisonEvent(
            f"考核结果 {payload.exam_id}：人员 {payload.manager_id} 不属于单位 {payload.enterprise_id}"
        )
    person = manager.id_number_hash
    await _lock_person(session, person)
    qualification = await session.get(PersonQualification, person)
    previous = qualification.exam_status if qualification else None
    status = exam_outcome(qualification, payload.result, payload.published_on)
    if status is None:
        log.info("registry: exam result %s (%s) older than the known one; kept", payload.exam_id, event.id)
        return
    if qualification is None:
        qualification = PersonQualification(
            id_number_hash=person, exam_status=status, since=payload.published_on, updated_at=utcnow()
        )
        session.add(qualification)
    else:
        qualification.exam_status = status
        qualification.since = payload.published_on
        qualification.updated_at = utcnow()
    qualification.exam_id = payload.exam_id
    label = "合格" if status == QUALIFIED else EXAM_FAILED_REASON
    reason = f"{label}（考核 {payload.exam_id}，{payload.published_on} 公布）"
    audit.record(
        session,
        None,
        enterprise_id=manager.enterprise_id,
        entity="manager",
        entity_id=manager.id,
        action="exam_result",
        changes={"exam_status": [previous, status]},
        reason=reason,
        actor="exam",
    )
    if status != DISQUALIFIED:
        return
    in_post = (
        (
            await session.execute(
                select(Manager)
                .where(Manager.id_number_hash == person, Manager.removed_on.is_(None))  # type: ignore[union-attr]
                .order_by(Manager.id)
            )
        )
        .scalars()
        .all()
    )
    touched: dict[str, Enterprise] = {}
    for held in in_post:
        enterprise = touched.get(held.enterprise_id) or await session.get(Enterprise, held.enterprise_id)
        assert enterprise is not None  # a foreign key
        touched[enterprise.id] = enterprise
        before = _audited(held)
        # An appointment made after the publication (the result arrived late) ends the day it began.
        held.removed_on = max(payload.published_on, held.appointed_on)
        held.removal_reason = EXAM_FAILED_REASON
        held.updated_at = utcnow()
        _record_change(
            session,
            None,
            enterprise,
            held,
            MANAGER_DISQUALIFIED,
            action="disqualified",
            changes=audit.diff(before, _audited(held)),
            reason=reason,
            actor="exam",
        )
    for _, enterprise in sorted(touched.items()):  # one order of row locks for every handler
        await refresh_duties(session, enterprise)


# ------------------------------------------------------------------------------------------------ routes

_MANAGERS = "/enterprises/{enterprise_id}/managers"


@router.post(
    _MANAGERS,
    status_code=201,
    response_model=ManagerPublic,
    summary="任命质量安全总监、质量安全员或主要负责人",
)
async def appoint_manager(
    enterprise_id: str, body: ManagerAppoint, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    settings = request.app.state.settings
    async with db.transaction() as session:
        manager = await appoint(
            session=session, caller=caller, settings=settings, enterprise_id=enterprise_id, data=body
        )
        [shown] = await present_all(session, caller, settings, [manager])
        return shown


@router.get(_MANAGERS, response_model=list[ManagerPublic], summary="质量安全管理人员（默认仅在任）")
async def list_managers(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    request: Request,
    include_removed: Annotated[bool, Query(description="含已免职人员")] = False,
) -> list[ManagerPublic]:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        managers = await managers_of(session, enterprise_id, include_removed=include_removed)
        return await present_all(session, caller, request.app.state.settings, managers)


@router.get(_MANAGERS + "/{manager_id}", response_model=ManagerPublic, summary="质量安全管理人员详情")
async def get_manager(
    enterprise_id: str, manager_id: str, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        manager = await _manager_of(session, enterprise_id, manager_id)
        [shown] = await present_all(session, caller, request.app.state.settings, [manager])
        return shown


@router.post(
    _MANAGERS + "/{manager_id}/change",
    response_model=ManagerPublic,
    summary="更正姓名或联系电话（须注明原因）",
)
async def change_manager(
    enterprise_id: str, manager_id: str, body: ManagerChange, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    settings = request.app.state.settings
    async with db.transaction() as session:
        manager = await correct(
            session=session,
            caller=caller,
            settings=settings,
            enterprise_id=enterprise_id,
            manager_id=manager_id,
            change=body,
        )
        [shown] = await present_all(session, caller, settings, [manager])
        return shown


@router.post(
    _MANAGERS + "/{manager_id}/removal", response_model=ManagerPublic, summary="免职（记录保留在历史中）"
)
async def remove_manager(
    enterprise_id: str, manager_id: str, body: ManagerRemoval, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    async with db.transaction() as session:
        manager = await remove(
            session=session, caller=caller, enterprise_id=enterprise_id, manager_id=manager_id, removal=body
        )
        [shown] = await present_all(session, caller, request.app.state.settings, [manager])
        return shown


@router.post(
    _MANAGERS + "/{manager_id}/trainings",
    status_code=201,
    response_model=TrainingPublic,
    summary="登记培训记录",
)
async def record_training(
    enterprise_id: str, manager_id: str, body: TrainingIn, db: DbDep, caller: CallerDep
) -> TrainingPublic:
    async with db.transaction() as session:
        training = await add_training(
            session=session, caller=caller, enterprise_id=enterprise_id, manager_id=manager_id, data=body
        )
        return TrainingPublic.model_validate(training, from_attributes=True)


@router.get(_MANAGERS + "/{manager_id}/trainings", response_model=list[TrainingPublic], summary="培训记录")
async def list_trainings(
    enterprise_id: str, manager_id: str, db: DbDep, caller: CallerDep
) -> list[TrainingPublic]:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        manager = await _manager_of(session, enterprise_id, manager_id)
        rows = (
            (
                await session.execute(
                    select(Training)
                    .where(Training.manager_id == manager.id)
                    .order_by(Training.held_on, Training.id)
                )
            )
            .scalars()
            .all()
        )
    return [TrainingPublic.model_validate(row, from_attributes=True) for row in rows]
