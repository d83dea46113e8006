"""Region codes (GB/T 2260) and jurisdiction: an upper region sees every region below it."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# The shipped table is GB/T 2260 as of 2025-12-31. Codes change every year: an operator points
# QSR_REGION_TABLE at a newer table (same columns) and applies the changes with POST /region-changes.
_DATA = Path(os.environ.get("QSR_REGION_TABLE") or Path(__file__).parent / "data" / "gb2260.csv")
_CODE = re.compile(r"^\d{6}(\d{3})?$")


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str  # province | city | county
    parent_code: str | None


@cache
def _table() -> dict[str, Region]:
    with _DATA.open(encoding="utf-8", newline="") as handle:
        return {
            row["code"]: Region(row["code"], row["name"], row["level"], row["parent_code"] or None)
            for row in csv.DictReader(handle)
        }


def lookup(code: str) -> Region | None:
    return _table().get(code)


def level_of(code: str) -> str:
    """province ``XX0000``, city ``XXXX00``, county ``XXXXXX``, station: a county code and 3 digits."""
    if not _CODE.match(code):
        raise ValueError(f"not a region code: {code!r}")
    if len(code) == 9:
        return "station"
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def prefix_of(code: str) -> str:
    """The prefix every region under ``code`` starts with (jurisdiction is a prefix match)."""
    level = level_of(code)
    return {"province": code[:2], "city": code[:4]}.get(level, code)


def within(jurisdiction: str, code: str) -> bool:
    """Whether a caller of ``jurisdiction`` may see a record of region ``code``."""
    return code.startswith(prefix_of(jurisdiction))


def is_valid_region(code: str) -> bool:
    """A county-level (or city/province) code present in the shipped GB/T 2260 table."""
    return bool(_CODE.match(code)) and len(code) == 6 and code in _table()
