"""pydantic's errors as stable codes and Chinese messages, over a model with every kind of constraint the
services use (pure: no app, no database)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.common.shape_errors import field_path, shape_error, shape_errors

CJK = re.compile(r"[\u4e00-\u9fff]")


class Kind(StrEnum):
    production = "production"
    sales = "sales"


class Certificate(BaseModel):
    number: str = Field(min_length=1, max_length=5)
    valid_until: date


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2)
    employees: int = Field(ge=0, le=1000)
    revenue: float = Field(gt=0, lt=1e6)
    locked: bool
    kind: Kind
    channel: Literal["wholesale", "retail"]
    founded_on: date
    seen_at: datetime
    id: uuid.UUID
    code: str = Field(pattern=r"^\d{6}$")
    categories: list[str] = Field(max_length=2)
    certificates: list[Certificate]
    english: str
    chinese: str

    @field_validator("english")
    @classmethod
    def _english(cls, value: str) -> str:
        raise ValueError("bad value, says a library")

    @field_validator("chinese")
    @classmethod
    def _chinese(cls, value: str) -> str:
        raise ValueError("该字段须为中文说明")


BAD = {
    "name": "x",
    "employees": "many",
    "revenue": 0,
    "locked": "perhaps",
    "kind": "factory",
    "channel": "online",
    "founded_on": "2026-13-45",
    "seen_at": "yesterday",
    "id": "not-a-uuid",
    "code": "12ab",
    "categories": ["a", "b", "c"],
    "certificates": [{"number": "", "valid_until": "2026-02-30"}, "not an object"],
    "english": "x",
    "chinese": "x",
    "surplus": 1,
}


def errors_of(data: dict) -> dict[str, tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        Record.model_validate(data)
    return {e["field"]: (e["code"], e["message"]) for e in shape_errors(caught.value.errors())}


def test_every_error_has_a_stable_code_and_a_chinese_message() -> None:
    got = errors_of(BAD)
    assert {field: code for field, (code, _) in got.items()} == {
        "name": "LENGTH_OUT_OF_RANGE",
        "employees": "FIELD_TYPE_INVALID",
        "revenue": "VALUE_OUT_OF_RANGE",
        "locked": "FIELD_TYPE_INVALID",
        "kind": "VALUE_NOT_ALLOWED",
        "channel": "VALUE_NOT_ALLOWED",
        "founded_on": "DATE_INVALID",
        "seen_at": "DATE_INVALID",
        "id": "FIELD_FORMAT_INVALID",
        "code": "FIELD_FORMAT_INVALID",
        "categories": "LENGTH_OUT_OF_RANGE",
        "certificates.0.number": "LENGTH_OUT_OF_RANGE",
        "certificates.0.valid_until": "DATE_INVALID",
        "certificates.1": "FIELD_TYPE_INVALID",
        "english": "VALUE_INVALID",
        "chinese": "VALUE_INVALID",
        "surplus": "FIELD_NOT_ALLOWED",
    }
    for field, (_, message) in got.items():
        assert CJK.search(message), (field, message)
        assert not re.search(r"Input should|String should|Value error|Extra inputs|Field required", message)


def test_limits_and_choices_come_from_the_error_and_validators_speak_when_they_speak_chinese() -> None:
    got = {field: message for field, (_, message) in errors_of(BAD).items()}
    assert got["name"] == "至少 2 个字符"
    assert got["revenue"] == "应大于 0"
    assert got["categories"] == "最多 2 项"
    assert got["certificates.0.number"] == "不能为空"
    assert got["kind"] == "取值应为以下之一：production、sales"
    assert got["channel"] == "取值应为以下之一：wholesale、retail"
    assert got["founded_on"] == "日期格式应为 YYYY-MM-DD"
    assert got["employees"] == "应为整数"
    assert got["chinese"] == "该字段须为中文说明"
    assert got["english"] == "取值无效"  # a library's English is not passed on
    assert errors_of({**BAD, "employees": 5000})["employees"] == ("VALUE_OUT_OF_RANGE", "应不大于 1000")
    missing = errors_of({k: v for k, v in BAD.items() if k != "kind"})
    assert missing["kind"] == ("FIELD_REQUIRED", "缺少必填字段")


def test_fields_drop_the_location_and_unknown_types_fall_back() -> None:
    assert field_path(("body", "certificates", 0, "number")) == "certificates.0.number"
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("body",)) == ""
    assert shape_error({"type": "some_future_type", "loc": ("body", "x"), "msg": "Something new"}) == (
        "VALUE_INVALID",
        "取值无效",
    )
    not_json = shape_errors([{"type": "json_invalid", "loc": ("body", 9), "msg": "JSON decode error"}])
    assert not_json == [
        {
            "field": "",
            "code": "BODY_NOT_JSON",
            "message": "请求体不是有效的 JSON（第 9 个字符处），请检查括号、引号和逗号",
        }
    ]
