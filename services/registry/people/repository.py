"""Every query of the managers: the unit's and the person's locks, managers, exam statuses, trainings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.models import Enterprise, Manager, PersonQualification, Training
from services.registry.people.rules import BARRED, ManagerRole


async def lock(session: AsyncSession, enterprise: Enterprise) -> None:
    """Serialise changes to one unit's managers (PostgreSQL row lock; SQLite serialises writers anyway). The
    row is read again under the lock: a principal's appointment changes the unit's record at its version."""
    await session.execute(
        select(Enterprise)
        .where(Enterprise.id == enterprise.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_person(session: AsyncSession, person: str) -> None:
    """Serialise an appointment of a person with an exam result about the same person: without it, an
    appointment committed while a failed result is applied could escape the removal (PostgreSQL advisory
    lock for the transaction; SQLite serialises writers anyway). Taken before any unit's row lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"qsr-person:{person}"}
        )


async def enterprise(session: AsyncSession, enterprise_id: str) -> Enterprise | None:
    return await session.get(Enterprise, enterprise_id)


async def manager(session: AsyncSession, manager_id: str | None) -> Manager | None:
    return await session.get(Manager, manager_id)


async def qualification(session: AsyncSession, person: str) -> PersonQualification | None:
    """The exam status of a person (by the lookup hash of the ID number), if any result was published."""
    return await session.get(PersonQualification, person)


async def qualifications(session: AsyncSession, hashes: Iterable[str]) -> dict[str, PersonQualification]:
    wanted = list(set(hashes))
    if not wanted:
        return {}
    stmt = select(PersonQualification).where(PersonQualification.id_number_hash.in_(wanted))  # type: ignore[attr-defined]
    return {q.id_number_hash: q for q in (await session.execute(stmt)).scalars().all()}


async def managers_of(
    session: AsyncSession, enterprise_id: str, *, include_removed: bool = False
) -> Sequence[Manager]:
    stmt = select(Manager).where(Manager.enterprise_id == enterprise_id)
    if not include_removed:
        stmt = stmt.where(Manager.removed_on.is_(None))  # type: ignore[union-attr]
    stmt = stmt.order_by(Manager.role, Manager.appointed_on, Manager.id)
    return (await session.execute(stmt)).scalars().all()


async def has_quality_director(session: AsyncSession, enterprise_id: str) -> bool:
    """Whether the unit has an active quality director who is not barred by an exam result."""
    stmt = (
        select(func.count())
        .select_from(Manager)
        .outerjoin(PersonQualification, PersonQualification.id_number_hash == Manager.id_number_hash)
        .where(
            Manager.enterprise_id == enterprise_id,
            Manager.role == ManagerRole.quality_director.value,
            Manager.removed_on.is_(None),  # type: ignore[union-attr]
            or_(
                PersonQualification.exam_status.is_(None),  # type: ignore[attr-defined]
                PersonQualification.exam_status.notin_(BARRED),  # type: ignore[attr-defined]
            ),
        )
    )
    return (await session.execute(stmt)).scalar_one() > 0


async def holds_post(session: AsyncSession, enterprise_id: str, role: str, person: str) -> bool:
    """Whether the person is in post in the unit in ``role``."""
    holding = await session.execute(
        select(Manager.id).where(
            Manager.enterprise_id == enterprise_id,
            Manager.role == role,
            Manager.id_number_hash == person,
            Manager.removed_on.is_(None),  # type: ignore[union-attr]
        )
    )
    return holding.first() is not None


async def holders(session: AsyncSession, enterprise_id: str, role: str) -> Sequence[Manager]:
    """The managers in post in the unit in ``role``, in the order of their appointments."""
    return (
        (
            await session.execute(
                select(Manager)
                .where(
                    Manager.enterprise_id == enterprise_id,
                    Manager.role == role,
                    Manager.removed_on.is_(None),  # type: ignore[union-attr]
                )
                .order_by(Manager.appointed_on, Manager.id)
            )
        )
        .scalars()
        .all()
    )


async def posts_of_person(session: AsyncSession, person: str) -> Sequence[Manager]:
    """Every appointment in force of the person, in every unit."""
    return (
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


async def trainings_of(session: AsyncSession, manager_id: str) -> Sequence[Training]:
    return (
        (
            await session.execute(
                select(Training)
                .where(Training.manager_id == manager_id)
                .order_by(Training.held_on, Training.id)
            )
        )
        .scalars()
        .all()
    )
