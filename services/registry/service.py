"""Registry domain logic: the ledger of units (台账) — entry, change, status, review of enterprise drafts."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import update as update_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller, RegulatorOnly
from services.common.categories import product_categories
from services.common.db import today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.ids import new_id
from services.common.problems import Problem
from services.common.regions import is_valid_region, level_of
from services.common.settings import Settings
from services.common.stations import is_known_station
from services.common.uscc import normalise_uscc
from services.registry import audit, pii, publish, repository
from services.registry.models import (
    Certificate,
    Enterprise,
    ProductCategoryLink,
    ProductionSite,
    RegionChange,
    StatusChange,
    Submission,
)
from services.registry.schemas import (
    FINAL_STATUSES,
    CertificatePublic,
    EnterpriseKind,
    EnterprisePublic,
    EnterpriseUpdate,
    LedgerFields,
    RegionChangeIn,
    SitePublic,
    StatusChangeIn,
)


class EnterpriseNotFound(NotFound):
    code, title = "ENTERPRISE_NOT_FOUND", "单位不存在或不在您的管辖范围内"


class NotSupervisor(Forbidden):
    code, title = "ENTERPRISE_NOT_SUPERVISED_BY_CALLER", "该单位不由您监管，只能查看"


class InvalidUSCC(Invalid):
    code, title = "USCC_INVALID", "统一社会信用代码无效"


class InvalidRegion(Invalid):
    code, title = "REGION_CODE_INVALID", "行政区划代码无效"


class InvalidSalesChannel(Invalid):
    code, title = "SALES_CHANNEL_INVALID", "销售渠道与单位类型不符"


class DuplicateUSCC(Conflict):
    code, title = "ENTERPRISE_DUPLICATE_USCC", "该统一社会信用代码的单位已录入"


class OutOfJurisdiction(Forbidden):
    code, title = "REGION_OUT_OF_JURISDICTION", "该行政区划不在您的管辖范围内"


class StaleVersion(Conflict):
    code, title = "ENTERPRISE_VERSION_STALE", "记录已被他人修改，请刷新后重试"


def supervised_scope(caller: Caller, region: str | None, *, refusal: str) -> list[Any]:
    """The conditions for the units a regulator supervises, narrowed to ``region`` (which it must cover);
    an enterprise account is refused with ``refusal``."""
    if not caller.is_regulator:
        raise RegulatorOnly(refusal)
    conditions = [repository.registered_within(caller)]
    if region is not None:
        if not caller.can_see(region):
            raise OutOfJurisdiction(f"{region} 不在您的管辖范围内")
        conditions.append(repository.in_region(Enterprise.region_code, region))
    return conditions


async def require(
    session: AsyncSession, caller: Caller, enterprise_id: str, *, write: bool = False
) -> Enterprise:
    """The unit, if the caller may see it (404 otherwise) and, with ``write``, supervises it (403)."""
    enterprise = await repository.get_readable(session, caller, enterprise_id)
    if enterprise is None:
        raise EnterpriseNotFound()
    if write:
        if not caller.is_regulator:
            raise RegulatorOnly("企业用户请通过“企业填报”提交，由市场监管所审核后入账")
        if await repository.get_writable(session, caller, enterprise_id) is None:
            raise NotSupervisor("该单位注册地不在您的辖区，您只能查看其在本辖区的生产场所信息")
    return enterprise


class UnknownCategory(Invalid):
    code, title = "PRODUCT_CATEGORY_UNKNOWN", "产品类别不在目录中"


class InvalidStation(Invalid):
    code, title = "STATION_CODE_INVALID", "市场监管所代码须为所属县级行政区划代码加3位数字"


class InvalidCertificate(Invalid):
    code, title = "CERTIFICATE_INVALID", "证书信息有误"


class InvalidPhone(Invalid):
    code, title = "PHONE_INVALID", "联系电话格式有误"


class InvalidSizeYear(Invalid):
    code, title = "SIZE_YEAR_INVALID", "规模数据所属年度有误"


class StatusUnchanged(Conflict):
    code, title = "STATUS_UNCHANGED", "经营状态未变化"


class StatusFinal(Conflict):
    code, title = "STATUS_FINAL", "单位已注销、吊销或迁出，不能再变更经营状态"


class StatusDateInvalid(Invalid):
    code, title = "STATUS_DATE_INVALID", "经营状态生效日期有误"


# ------------------------------------------------------------------------------------------ validation

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def check_fields(data: LedgerFields, *, today: date) -> tuple[str | None, list[Problem]]:
    """台账录入校验: the normalised USCC and every problem of the record (pure; import reports them all)."""
    problems: list[Problem] = []
    uscc: str | None = None
    try:
        uscc = normalise_uscc(data.uscc)
    except ValueError as exc:
        problems.append(Problem("uscc", InvalidUSCC, str(exc)))
    if not is_valid_region(data.region_code):
        problems.append(
            Problem("region_code", InvalidRegion, f"{data.region_code} 不是有效的 GB/T 2260 行政区划代码")
        )
    if data.station_code is not None and not (
        data.station_code.startswith(data.region_code) and level_of(data.region_code) == "county"
    ):
        problems.append(
            Problem("station_code", InvalidStation, f"{data.station_code} 不属于注册地 {data.region_code}")
        )
    elif data.station_code is not None and not is_known_station(data.station_code):
        problems.append(
            Problem(
                "station_code",
                InvalidStation,
                f"市场监管所 {data.station_code} 不存在（不在市场监管所名录中）",
            )
        )
    if data.kind == EnterpriseKind.sales and data.sales_channel is None:
        problems.append(
            Problem(
                "sales_channel", InvalidSalesChannel, "销售单位须填写销售渠道：批发 wholesale 或 零售 retail"
            )
        )
    if data.principal_phone is not None and not _PHONE.match(data.principal_phone.replace(" ", "")):
        problems.append(
            Problem("principal_phone", InvalidPhone, f"{data.principal_phone} 不是有效的电话号码")
        )
    if data.size_year is not None and data.size_year > today.year:
        problems.append(Problem("size_year", InvalidSizeYear, f"{data.size_year} 年晚于当前年度"))
    known = product_categories()
    for code in data.product_categories:
        if code not in known:
            problems.append(Problem("product_categories", UnknownCategory, f"产品类别 {code} 不在目录中"))
    if data.kind == EnterpriseKind.sales and (data.certificates or data.sites):
        problems.append(
            Problem("certificates", InvalidCertificate, "销售单位不填写生产许可证、CCC 证书或生产场所")
        )
    for cert in data.certificates:
        if cert.valid_from and cert.valid_until and cert.valid_until < cert.valid_from:
            problems.append(
                Problem("certificates", InvalidCertificate, f"证书 {cert.number} 有效期早于发证日期")
            )
        if cert.category_code is not None and cert.category_code not in known:
            problems.append(
                Problem("certificates", UnknownCategory, f"证书 {cert.number} 的产品类别不在目录中")
            )
    for site in data.sites:
        if not is_valid_region(site.region_code):
            problems.append(Problem("sites", InvalidRegion, f"生产场所行政区划代码 {site.region_code} 无效"))
    return uscc, problems


def raise_problems(problems: Sequence[Problem]) -> None:
    """422 with the first problem's code; every problem listed in ``errors``."""
    if problems:
        first = problems[0]
        raise first.error(
            first.message,
            field=first.field,
            errors=[p.public() for p in problems],
        )


def scalar_columns(data: LedgerFields, uscc: str, settings: Settings) -> dict[str, Any]:
    """The enterprise table's own columns for an entered record (personal data sealed)."""
    return {
        "uscc": uscc,
        "name": data.name.strip(),
        "kind": data.kind.value,
        "sales_channel": data.sales_channel.value if data.sales_channel else None,
        "region_code": data.region_code,
        "station_code": data.station_code,
        "registered_address": data.registered_address,
        "principal_name": data.principal_name,
        "principal_phone_enc": pii.vault(settings).seal(data.principal_phone),
        "employees": data.employees,
        "revenue_wan_yuan": data.revenue_wan_yuan,
        "size_year": data.size_year,
        "entry_reason": data.entry_reason.value,
        "entry_note": data.entry_note,
    }


# ------------------------------------------------------------------------------------------ reading


async def present(
    session: AsyncSession, caller: Caller, settings: Settings, enterprise: Enterprise
) -> EnterprisePublic:
    """A unit's full record as the caller may see it (personal data masked by role), after a change."""
    categories = await repository.categories_of(session, enterprise.id)
    certificates = await repository.certificates_of(session, enterprise.id)
    sites = await repository.sites_of(session, enterprise.id)
    return _public(
        caller,
        settings,
        enterprise,
        enterprise.model_dump(),
        categories=list(categories),
        certificates=[CertificatePublic.model_validate(c, from_attributes=True) for c in certificates],
        sites=[SitePublic.model_validate(s, from_attributes=True) for s in sites],
    )


async def read(
    session: AsyncSession, caller: Caller, settings: Settings, enterprise_id: str
) -> EnterprisePublic:
    """单位详情: the unit's full record if the caller may see it (404 otherwise), read in one statement."""
    record = await repository.get_readable_record(session, caller, enterprise_id)
    if record is None:
        raise EnterpriseNotFound()
    return _public(
        caller,
        settings,
        record.unit,
        record.unit._mapping,
        categories=record.categories,
        certificates=[CertificatePublic.model_validate(c) for c in record.certificates],
        sites=[SitePublic.model_validate(s) for s in record.sites],
    )


def _public(
    caller: Caller,
    settings: Settings,
    unit: Any,
    fields: Mapping[str, Any],
    *,
    categories: list[str],
    certificates: list[CertificatePublic],
    sites: list[SitePublic],
) -> EnterprisePublic:
    phone = pii.vault(settings).open(unit.principal_phone_enc)
    return EnterprisePublic.model_validate(
        {
            **fields,
            "principal_phone": pii.show(phone, caller=caller, settings=settings),
            "product_categories": categories,
            "certificates": certificates,
            "sites": sites,
            "via_site": not repository.supervises(caller, unit),
        }
    )


async def snapshot(session: AsyncSession, enterprise: Enterprise) -> dict[str, Any]:
    """Every field of a unit's record, children included: what the audit trail compares."""
    fields = {
        k: v for k, v in enterprise.model_dump().items() if k not in {"created_at", "updated_at", "version"}
    }
    fields["product_categories"] = list(await repository.categories_of(session, enterprise.id))
    fields["certificates"] = [
        {
            k: str(v) if isinstance(v, date) else v
            for k, v in c.model_dump(exclude={"id", "enterprise_id"}).items()
        }
        for c in await repository.certificates_of(session, enterprise.id)
    ]
    fields["sites"] = [
        s.model_dump(exclude={"id", "enterprise_id"})
        for s in await repository.sites_of(session, enterprise.id)
    ]
    return fields


# ------------------------------------------------------------------------------------------ writing


async def _replace_children(
    session: AsyncSession, enterprise_id: str, data: LedgerFields | EnterpriseUpdate
) -> None:
    if data.product_categories is not None:
        await session.execute(
            delete(ProductCategoryLink).where(ProductCategoryLink.enterprise_id == enterprise_id)
        )
        for code in dict.fromkeys(data.product_categories):
            session.add(ProductCategoryLink(enterprise_id=enterprise_id, category_code=code))
    if data.certificates is not None:
        await session.execute(delete(Certificate).where(Certificate.enterprise_id == enterprise_id))
        for cert in data.certificates:
            session.add(Certificate(id=new_id(), enterprise_id=enterprise_id, **cert.model_dump()))
    if data.sites is not None:
        await session.execute(delete(ProductionSite).where(ProductionSite.enterprise_id == enterprise_id))
        for site in data.sites:
            session.add(ProductionSite(id=new_id(), enterprise_id=enterprise_id, **site.model_dump()))
    await session.flush()


async def register(
    *,
    session: AsyncSession,
    caller: Caller,
    settings: Settings,
    data: LedgerFields,
    entry_path: str = "regulator",
    created_by: str | None = None,
) -> Enterprise:
    """录入: enter a unit into the ledger and announce it (``registry.enterprise.registered``)."""
    uscc, problems = check_fields(data, today=today_cn())
    raise_problems(problems)
    assert uscc is not None
    if not caller.is_regulator or (not caller.can_see(data.region_code) and not _station_owns(caller, data)):
        raise OutOfJurisdiction(f"不能在管辖范围外（{data.region_code}）录入单位")
    if await repository.get_by_uscc(session, uscc) is not None:
        raise DuplicateUSCC(f"统一社会信用代码 {uscc} 的单位已在台账中")
    now = utcnow()
    enterprise = Enterprise(
        id=new_id(),
        **scalar_columns(data, uscc, settings),
        entry_path=entry_path,
        operating_status="normal",
        created_by=created_by or caller.username,
        created_at=now,
        updated_at=now,
    )
    session.add(enterprise)
    await session.flush()
    await _replace_children(session, enterprise.id, data)
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="enterprise",
        entity_id=enterprise.id,
        action="registered",
        changes=audit.diff({}, await snapshot(session, enterprise)),
        reason=data.entry_note,
    )
    publish.registered(session, enterprise, list(dict.fromkeys(data.product_categories)))
    return enterprise


def _station_owns(caller: Caller, data: LedgerFields) -> bool:
    """A station enters units of its own county that it is responsible for."""
    return level_of(caller.region_code) == "station" and data.station_code == caller.region_code


async def update(
    *, session: AsyncSession, caller: Caller, settings: Settings, enterprise_id: str, change: EnterpriseUpdate
) -> Enterprise:
    """变更: change a unit's record against the version the caller read; audited and announced."""
    enterprise = await require(session, caller, enterprise_id, write=True)
    if change.version != enterprise.version:
        raise StaleVersion(
            f"您修改的是第 {change.version} 版，当前为第 {enterprise.version} 版",
            current_version=enterprise.version,
        )
    return await apply_change(
        session=session, caller=caller, settings=settings, enterprise=enterprise, change=change
    )


async def apply_change(
    *,
    session: AsyncSession,
    caller: Caller,
    settings: Settings,
    enterprise: Enterprise,
    change: EnterpriseUpdate,
    checked: Collection[str] | None = None,
) -> Enterprise:
    """Apply a change the caller may make to this version of the unit: merged, checked, stored; if anything
    changed, the version goes up, the change is audited and ``registry.enterprise.updated`` announced.

    ``checked`` names the fields whose problems refuse the change (default: every field). A change made on
    the unit's behalf by another record (the principal's appointment) passes its own fields, so that an
    unrelated problem of an older record (a category since dropped from the catalogue) does not refuse it."""
    before = await snapshot(session, enterprise)
    merged = LedgerFields.model_validate(
        {
            **before,
            "principal_phone": pii.vault(settings).open(enterprise.principal_phone_enc),
            **change.model_dump(exclude_unset=True, exclude={"version", "reason"}),
        }
    )
    _uscc, problems = check_fields(merged, today=today_cn())
    raise_problems([p for p in problems if checked is None or p.field in checked])
    if merged.region_code != enterprise.region_code and not caller.can_see(merged.region_code):
        raise OutOfJurisdiction(f"不能把单位迁到管辖范围外（{merged.region_code}）；请办理迁出")
    columns = scalar_columns(merged, enterprise.uscc, settings)
    if merged.principal_phone == pii.vault(settings).open(enterprise.principal_phone_enc):
        columns["principal_phone_enc"] = enterprise.principal_phone_enc  # unchanged: keep the same ciphertext
    for key, value in columns.items():
        setattr(enterprise, key, value)
    await _replace_children(session, enterprise.id, change)
    after = await snapshot(session, enterprise)
    changes = audit.diff(before, after)
    if not changes:
        return enterprise
    enterprise.version += 1
    enterprise.updated_at = utcnow()
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="enterprise",
        entity_id=enterprise.id,
        action="updated",
        changes=changes,
        reason=change.reason,
    )
    publish.updated(session, enterprise, after["product_categories"])
    return enterprise


async def change_status(
    *, session: AsyncSession, caller: Caller, enterprise_id: str, change: StatusChangeIn
) -> StatusChange:
    """异常状态: 停产、停业、注销、吊销、迁出 (or back to 正常), with the date it took effect and why."""
    enterprise = await require(session, caller, enterprise_id, write=True)
    if enterprise.operating_status in FINAL_STATUSES:
        raise StatusFinal(f"单位已{enterprise.operating_status}，如需恢复请重新录入")
    if change.status.value == enterprise.operating_status:
        raise StatusUnchanged(f"单位当前已是该状态（{change.status.value}）")
    if change.effective_on > today_cn():
        raise StatusDateInvalid("生效日期不能晚于今天")
    if enterprise.status_effective_on and change.effective_on < enterprise.status_effective_on:
        raise StatusDateInvalid(f"生效日期不能早于上一次状态变更（{enterprise.status_effective_on}）")
    record = StatusChange(
        id=new_id(),
        enterprise_id=enterprise.id,
        from_status=enterprise.operating_status,
        to_status=change.status.value,
        effective_on=change.effective_on,
        reason=change.reason,
        recorded_by=caller.username,
        recorded_at=utcnow(),
    )
    session.add(record)
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="enterprise",
        entity_id=enterprise.id,
        action="status_changed",
        changes={
            "operating_status": [enterprise.operating_status, change.status.value],
            "status_effective_on": [str(enterprise.status_effective_on or ""), str(change.effective_on)],
        },
        reason=change.reason,
    )
    enterprise.operating_status = change.status.value
    enterprise.status_effective_on = change.effective_on
    enterprise.status_reason = change.reason
    enterprise.version += 1
    enterprise.updated_at = utcnow()
    publish.status_changed(session, enterprise, record)
    publish.updated(session, enterprise, list(await repository.categories_of(session, enterprise.id)))
    return record


async def history(
    session: AsyncSession, caller: Caller, enterprise_id: str, *, cursor: str | None, limit: int
):  # type: ignore[no-untyped-def]
    await require(session, caller, enterprise_id)
    return await repository.audit_of(session, enterprise_id, cursor=cursor, limit=limit)


def audit_changes(entry: Any) -> dict[str, list[object]]:
    return json.loads(entry.changes)


class ProvinceOnly(Forbidden):
    code, title = "REGION_CHANGE_PROVINCE_ONLY", "行政区划变更须由省级市场监管部门办理"


class RegionChangeInvalid(Invalid):
    code, title = "REGION_CHANGE_INVALID", "行政区划变更有误"


async def apply_region_change(
    *, session: AsyncSession, caller: Caller, change: RegionChangeIn
) -> RegionChange:
    """区划调整: a county merged or renamed (GB/T 2260 changes yearly). Its units, their stations, the
    production sites and the pending drafts move to the new code; every unit keeps its history, gets an audit
    entry, and is announced (``enterprise.updated``) so that every service moves it too."""
    if not caller.is_regulator or level_of(caller.region_code) != "province":
        raise ProvinceOnly()
    if not (caller.can_see(change.old_code) and caller.can_see(change.new_code)):
        raise OutOfJurisdiction("变更前后的行政区划须都在本省")
    if change.old_code == change.new_code:
        raise RegionChangeInvalid("变更前后的代码相同")
    if not is_valid_region(change.new_code):
        raise InvalidRegion(f"{change.new_code} 不在现行 GB/T 2260 代码表中", field="new_code")
    units = (
        await session.execute(select(Enterprise).where(Enterprise.region_code == change.old_code))
    ).scalars()
    moved = 0
    for enterprise in units.all():
        before = {"region_code": enterprise.region_code, "station_code": enterprise.station_code}
        enterprise.region_code = change.new_code
        if enterprise.station_code:
            enterprise.station_code = change.new_code + enterprise.station_code[6:]
        enterprise.version += 1
        enterprise.updated_at = utcnow()
        audit.record(
            session,
            caller,
            enterprise_id=enterprise.id,
            entity="enterprise",
            entity_id=enterprise.id,
            action="region_changed",
            changes=audit.diff(
                before, {"region_code": enterprise.region_code, "station_code": enterprise.station_code}
            ),
            reason=f"行政区划变更 {change.old_code}→{change.new_code}（{change.effective_on}）：{change.note}",
        )
        publish.updated(session, enterprise, list(await repository.categories_of(session, enterprise.id)))
        moved += 1
    await session.execute(
        update_(ProductionSite)
        .where(ProductionSite.region_code == change.old_code)
        .values(region_code=change.new_code)
    )
    await session.execute(
        update_(Submission)
        .where(Submission.region_code == change.old_code)
        .values(region_code=change.new_code)
    )
    record = RegionChange(
        id=new_id(),
        **change.model_dump(),
        units_moved=moved,
        applied_by=caller.username,
        applied_at=utcnow(),
    )
    session.add(record)
    return record
