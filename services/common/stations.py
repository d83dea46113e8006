"""The market-supervision stations (市场监管所) that exist: a station code is a county's code and 3 digits,
assigned by the county, so which ones exist is a table (shipped for the demo counties; an operator points
``QSR_STATION_TABLE`` at its own, same columns, like ``QSR_REGION_TABLE``)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_DATA = Path(os.environ.get("QSR_STATION_TABLE") or Path(__file__).parent / "data" / "stations.csv")


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    county_code: str


@cache
def _table() -> dict[str, Station]:
    with _DATA.open(encoding="utf-8", newline="") as handle:
        return {
            row["code"]: Station(row["code"], row["name"], row["county_code"])
            for row in csv.DictReader(handle)
        }


def lookup_station(code: str) -> Station | None:
    return _table().get(code)


def is_known_station(code: str) -> bool:
    return code in _table()
