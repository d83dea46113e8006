"""产品类别目录: the product categories a unit can be filed under (production licence, CCC and mandatory-standard
classes), shipped as data (``data/categories.yaml``) and read by every service that names a category: registry
files units under them, inspection samples products of them, exam's questions apply to them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel

_CATEGORIES = Path(__file__).parent / "data" / "categories.yaml"


class ProductCategory(BaseModel):
    code: str
    name: str
    regime: list[str]
    focus: bool


@cache
def product_categories() -> dict[str, ProductCategory]:
    """The catalogue by code, in the order of the file."""
    document = yaml.safe_load(_CATEGORIES.read_text(encoding="utf-8"))
    return {item["code"]: ProductCategory(**item) for item in document["categories"]}


@cache
def category_codes() -> frozenset[str]:
    return frozenset(product_categories())
