"""The managers' logic: who may keep a unit's duty system, appointment (接任 included), correction, removal,
trainings, and a published exam result applied to the person in every unit. The plain rules are in
``people.rules``, the queries in ``people.repository``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import ENTERPRISE, Caller
from services.common.db import today_cn, utcnow
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
from services.registry import audit, pii, service
from services.registry import repository as registry_repository
from services.registry.models import Enterprise, Manager, PersonQualification, Training
from services.registry.people import repository
from services.registry.people.errors import (
    AlreadyAppointed,
    EnterpriseClosed,
    InvalidIdNumber,
    InvalidPhone,
    ManagerAlreadyRemoved,
    ManagerDateInvalid,
    ManagerNotFound,
    NothingToChange,
    PersonDisqualified,
    PostOccupied,
    ReplacesInvalid,
    TrainingInvalid,
)
from services.registry.people.rules import (
    BARRED,
    DISQUALIFIED,
    EXAM_FAILED_REASON,
    QUALIFIED,
    ROLE_NAMES,
    SINGLE_POSTS,
    ManagerRole,
    exam_outcome,
    normalise_id_number,
    normalise_phone,
)
from services.registry.people.schemas import (
    ManagerAppoint,
    ManagerChange,
    ManagerPublic,
    ManagerRemoval,
    TrainingIn,
)
from services.registry.schemas import FINAL_STATUSES, EnterpriseUpdate

# The name the module had before it became a package: log filters and dashboards keep working.
log = logging.getLogger("services.registry.people")


# ------------------------------------------------------------------------------------------------ access


async def require_keeper(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    """The unit, if the caller may keep its duty system: a regulator supervising it, or the unit's own
    enterprise account. 404 when the caller may not see the unit, 403 when it may only read it."""
    enterprise = await registry_repository.get_readable(session, caller, enterprise_id)
    if enterprise is None:
        raise service.EnterpriseNotFound()
    if caller.role == ENTERPRISE and caller.uscc is not None and caller.uscc == enterprise.uscc:
        return enterprise
    return await service.require(session, caller, enterprise_id, write=True)


async def require_reader(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    return await service.require(session, caller, enterprise_id)


async def manager_of(session: AsyncSession, enterprise_id: str, manager_id: str) -> Manager:
    manager = await repository.manager(session, manager_id)
    if manager is None or manager.enterprise_id != enterprise_id:
        raise ManagerNotFound(f"本单位没有编号为 {manager_id} 的质量安全管理人员")
    return manager


# ------------------------------------------------------------------------------------------------ reading


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
    known = await repository.qualifications(session, (m.id_number_hash for m in managers))
    return [_present(m, known.get(m.id_number_hash), caller, settings) for m in managers]


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
    enterprise.has_quality_director = await repository.has_quality_director(session, enterprise.id)
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
    await repository.lock_person(session, person)
    await repository.lock(session, enterprise)
    qualification = await repository.qualification(session, person)
    if qualification is not None and qualification.exam_status in BARRED:
        raise PersonDisqualified(
            f"{data.name} 自 {qualification.since} 起考核不合格，重新考核合格前不得担任{ROLE_NAMES[data.role]}"
        )
    if await repository.holds_post(session, enterprise.id, data.role.value, person):
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
    predecessor = await repository.manager(session, data.replaces)
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
    holders = await repository.holders(session, enterprise.id, data.role.value)
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
    await repository.lock(session, enterprise)
    manager = await manager_of(session, enterprise.id, manager_id)
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
    await repository.lock(session, enterprise)
    manager = await manager_of(session, enterprise.id, manager_id)
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
    manager = await manager_of(session, enterprise.id, manager_id)
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
    manager = await repository.manager(session, payload.manager_id)
    if manager is None:
        raise PoisonEvent(f"考核结果 {payload.exam_id} 指向不存在的质量安全管理人员 {payload.manager_id}")
    if manager.enterprise_id != payload.enterprise_id:
        raise PoisonEvent(
            f"考核结果 {payload.exam_id}：人员 {payload.manager_id} 不属于单位 {payload.enterprise_id}"
        )
    person = manager.id_number_hash
    await repository.lock_person(session, person)
    qualification = await repository.qualification(session, person)
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
    in_post = await repository.posts_of_person(session, person)
    touched: dict[str, Enterprise] = {}
    for held in in_post:
        enterprise = touched.get(held.enterprise_id) or await repository.enterprise(
            session, held.enterprise_id
        )
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


# ------------------------------------------------------------------------------------------------ views


async def list_managers(
    session: AsyncSession,
    caller: Caller,
    settings: Settings,
    enterprise_id: str,
    *,
    include_removed: bool = False,
) -> list[ManagerPublic]:
    await require_reader(session, caller, enterprise_id)
    managers = await repository.managers_of(session, enterprise_id, include_removed=include_removed)
    return await present_all(session, caller, settings, managers)


async def get_manager(
    session: AsyncSession, caller: Caller, settings: Settings, enterprise_id: str, manager_id: str
) -> ManagerPublic:
    await require_reader(session, caller, enterprise_id)
    manager = await manager_of(session, enterprise_id, manager_id)
    [shown] = await present_all(session, caller, settings, [manager])
    return shown


async def trainings(
    session: AsyncSession, caller: Caller, enterprise_id: str, manager_id: str
) -> Sequence[Training]:
    await require_reader(session, caller, enterprise_id)
    manager = await manager_of(session, enterprise_id, manager_id)
    return await repository.trainings_of(session, manager.id)
