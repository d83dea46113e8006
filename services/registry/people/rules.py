"""The plain rules of the managers: the posts, the checks of an ID number and a phone, what a published exam
result makes of a person's status."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError

from services.registry.models import PersonQualification


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
