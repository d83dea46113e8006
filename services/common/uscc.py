"""统一社会信用代码 (GB 32100-2015) validation, by python-stdnum."""

from __future__ import annotations

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError


def normalise_uscc(value: str) -> str:
    """The code in upper case without spaces; raises ValueError with a Chinese message when invalid."""
    try:
        return _uscc.validate(value)
    except ValidationError as exc:
        raise ValueError(f"统一社会信用代码无效：{value}（{_reason(exc)}）") from exc


def _reason(exc: ValidationError) -> str:
    name = type(exc).__name__
    return {
        "InvalidLength": "长度应为18位",
        "InvalidChecksum": "校验码错误",
        "InvalidFormat": "含有不允许的字符",
        "InvalidComponent": "登记管理部门或机构类别代码错误",
    }.get(name, "格式错误")
