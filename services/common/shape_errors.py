"""Shape errors in Chinese: pydantic v2's error types mapped to stable codes and Chinese messages.

pydantic's own ``msg`` is English and changes between releases; a caller gets a ``code`` it can switch on
and a message it can show. Used for request bodies and parameters (``RequestValidationError``) and wherever a
service validates input with pydantic itself (a batch's operations, a self-check's content, an import's rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FIELD_REQUIRED = "FIELD_REQUIRED"
FIELD_TYPE_INVALID = "FIELD_TYPE_INVALID"
FIELD_FORMAT_INVALID = "FIELD_FORMAT_INVALID"
FIELD_NOT_ALLOWED = "FIELD_NOT_ALLOWED"
DATE_INVALID = "DATE_INVALID"
VALUE_NOT_ALLOWED = "VALUE_NOT_ALLOWED"
LENGTH_OUT_OF_RANGE = "LENGTH_OUT_OF_RANGE"
VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
VALUE_INVALID = "VALUE_INVALID"
BODY_NOT_JSON = "BODY_NOT_JSON"

# Where FastAPI found the value; not part of the field's name.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

_DATE = "日期格式应为 YYYY-MM-DD"
_DATETIME = "日期时间格式应为 ISO 8601，如 2026-11-23T09:30:00+08:00"
_OBJECT = "应为对象"
_LIST = "应为列表（数组）"
_NUMBER = "应为数字"

# type → (code, message template over the error's ``ctx``)
_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": (FIELD_REQUIRED, "缺少必填字段"),
    "int_parsing": (FIELD_TYPE_INVALID, "应为整数"),
    "int_type": (FIELD_TYPE_INVALID, "应为整数"),
    "int_from_float": (FIELD_TYPE_INVALID, "应为整数，不能有小数部分"),
    "int_parsing_size": (VALUE_OUT_OF_RANGE, "整数超出允许范围"),
    "float_parsing": (FIELD_TYPE_INVALID, _NUMBER),
    "float_type": (FIELD_TYPE_INVALID, _NUMBER),
    "decimal_parsing": (FIELD_TYPE_INVALID, _NUMBER),
    "decimal_type": (FIELD_TYPE_INVALID, _NUMBER),
    "finite_number": (FIELD_TYPE_INVALID, "应为有限的数字"),
    "bool_parsing": (FIELD_TYPE_INVALID, "应为布尔值（true 或 false）"),
    "bool_type": (FIELD_TYPE_INVALID, "应为布尔值（true 或 false）"),
    "string_type": (FIELD_TYPE_INVALID, "应为字符串"),
    "string_unicode": (FIELD_TYPE_INVALID, "应为有效的 Unicode 字符串"),
    "bytes_type": (FIELD_TYPE_INVALID, "应为字符串"),
    "list_type": (FIELD_TYPE_INVALID, _LIST),
    "tuple_type": (FIELD_TYPE_INVALID, _LIST),
    "set_type": (FIELD_TYPE_INVALID, _LIST),
    "frozen_set_type": (FIELD_TYPE_INVALID, _LIST),
    "iterable_type": (FIELD_TYPE_INVALID, _LIST),
    "dict_type": (FIELD_TYPE_INVALID, _OBJECT),
    "model_type": (FIELD_TYPE_INVALID, _OBJECT),
    "model_attributes_type": (FIELD_TYPE_INVALID, _OBJECT),
    "dataclass_type": (FIELD_TYPE_INVALID, _OBJECT),
    "none_required": (FIELD_TYPE_INVALID, "应为空（null）"),
    "date_parsing": (DATE_INVALID, _DATE),
    "date_type": (DATE_INVALID, _DATE),
    "date_from_datetime_parsing": (DATE_INVALID, _DATE),
    "date_from_datetime_inexact": (DATE_INVALID, _DATE),
    "date_past": (DATE_INVALID, "应为今天以前的日期"),
    "date_future": (DATE_INVALID, "应为今天以后的日期"),
    "datetime_parsing": (DATE_INVALID, _DATETIME),
    "datetime_type": (DATE_INVALID, _DATETIME),
    "datetime_from_date_parsing": (DATE_INVALID, _DATETIME),
    "datetime_object_invalid": (DATE_INVALID, _DATETIME),
    "datetime_past": (DATE_INVALID, "应为过去的时间"),
    "datetime_future": (DATE_INVALID, "应为将来的时间"),
    "timezone_naive": (DATE_INVALID, "不应带时区"),
    "timezone_aware": (DATE_INVALID, "应带时区，如 +08:00"),
    "time_parsing": (DATE_INVALID, "时间格式应为 HH:MM:SS"),
    "time_type": (DATE_INVALID, "时间格式应为 HH:MM:SS"),
    "time_delta_parsing": (DATE_INVALID, "时长格式无效"),
    "time_delta_type": (DATE_INVALID, "时长格式无效"),
    "enum": (VALUE_NOT_ALLOWED, "取值应为以下之一：{expected}"),
    "literal_error": (VALUE_NOT_ALLOWED, "取值应为以下之一：{expected}"),
    "union_tag_invalid": (VALUE_NOT_ALLOWED, "{discriminator} 应为以下之一：{expected_tags}"),
    "union_tag_not_found": (FIELD_REQUIRED, "缺少类型字段 {discriminator}"),
    "string_too_short": (LENGTH_OUT_OF_RANGE, "至少 {min_length} 个字符"),
    "string_too_long": (LENGTH_OUT_OF_RANGE, "最多 {max_length} 个字符"),
    "bytes_too_short": (LENGTH_OUT_OF_RANGE, "至少 {min_length} 个字节"),
    "bytes_too_long": (LENGTH_OUT_OF_RANGE, "最多 {max_length} 个字节"),
    "too_short": (LENGTH_OUT_OF_RANGE, "至少 {min_length} 项"),
    "too_long": (LENGTH_OUT_OF_RANGE, "最多 {max_length} 项"),
    "greater_than": (VALUE_OUT_OF_RANGE, "应大于 {gt}"),
    "greater_than_equal": (VALUE_OUT_OF_RANGE, "应不小于 {ge}"),
    "less_than": (VALUE_OUT_OF_RANGE, "应小于 {lt}"),
    "less_than_equal": (VALUE_OUT_OF_RANGE, "应不大于 {le}"),
    "multiple_of": (VALUE_OUT_OF_RANGE, "应为 {multiple_of} 的整数倍"),
    "decimal_max_digits": (VALUE_OUT_OF_RANGE, "最多 {max_digits} 位数字"),
    "decimal_max_places": (VALUE_OUT_OF_RANGE, "最多 {decimal_places} 位小数"),
    "decimal_whole_digits": (VALUE_OUT_OF_RANGE, "整数部分最多 {whole_digits} 位"),
    "extra_forbidden": (FIELD_NOT_ALLOWED, "不允许的字段（请检查字段名是否写错）"),
    "json_invalid": (BODY_NOT_JSON, "请求体不是有效的 JSON"),
    "json_type": (BODY_NOT_JSON, "应为 JSON 字符串"),
    "uuid_parsing": (FIELD_FORMAT_INVALID, "应为 UUID，如 0b9f1c2e-5d4a-4c1b-9e8f-2a7d6c5b4e3f"),
    "uuid_type": (FIELD_FORMAT_INVALID, "应为 UUID，如 0b9f1c2e-5d4a-4c1b-9e8f-2a7d6c5b4e3f"),
    "uuid_version": (FIELD_FORMAT_INVALID, "UUID 版本应为 {expected_version}"),
    "string_pattern_mismatch": (FIELD_FORMAT_INVALID, "格式不正确（应符合 {pattern}）"),
    "url_parsing": (FIELD_FORMAT_INVALID, "应为有效的网址"),
    "url_type": (FIELD_FORMAT_INVALID, "应为有效的网址"),
    "url_scheme": (FIELD_FORMAT_INVALID, "网址应以 {expected_schemes} 开头"),
    "value_error": (VALUE_INVALID, "取值无效"),
    "assertion_error": (VALUE_INVALID, "取值无效"),
}
_FALLBACK = (VALUE_INVALID, "取值无效")


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "certificates", 0, "number")`` → ``certificates.0.number``; the whole body → ``""``."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


def _choices(expected: Any) -> str:
    """pydantic's ``"'a', 'b' or 'c'"`` as ``a、b、c``."""
    items = re.split(r", | or ", str(expected))
    return "、".join(item.strip().strip("'\"") for item in items if item.strip())


def has_chinese(text: str) -> bool:
    return _CJK.search(text) is not None


def shape_error(err: Mapping[str, Any]) -> tuple[str, str]:
    """The stable code and the Chinese message of one pydantic error (``ValidationError.errors()`` item)."""
    kind = str(err.get("type", ""))
    code, template = _MESSAGES.get(kind, _FALLBACK)
    ctx = dict(err.get("ctx") or {})
    if kind in ("value_error", "assertion_error"):
        # A custom validator's own words, when they are meant for the caller (ours are Chinese).
        cause = str(ctx.get("error", ""))
        return code, cause if has_chinese(cause) else template
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return code, "不能为空"
    if kind == "json_invalid":
        position = err.get("loc", ())[-1] if len(err.get("loc", ())) > 1 else None
        where = f"（第 {position} 个字符处）" if isinstance(position, int) else ""
        return code, f"请求体不是有效的 JSON{where}，请检查括号、引号和逗号"
    for key, value in ctx.items():
        if key in ("expected", "expected_tags", "expected_schemes"):
            ctx[key] = _choices(value)
        elif isinstance(value, float) and value.is_integer():
            ctx[key] = int(value)  # 应大于 0, not 0.0
    try:
        return code, template.format(**ctx)
    except (KeyError, IndexError, ValueError):
        return code, _FALLBACK[1] if "{" in template else template


def shape_errors(errors: Iterable[Mapping[str, Any]], *, prefix: str = "") -> list[dict[str, str]]:
    """Every error as ``{"field", "code", "message"}``; ``prefix`` names where the validated value sits."""
    out = []
    for err in errors:
        code, message = shape_error(err)
        path = field_path(err.get("loc", ()))
        if code == BODY_NOT_JSON:
            path = ""  # the position in the text is in the message, not a field
        out.append({"field": ".".join(p for p in (prefix, path) if p), "code": code, "message": message})
    return out
