"""Loading the province policy packs: one YAML file per province, validated when it is loaded.

A broken file is refused with the file name and the line of the offending value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.common.policy.schema import Pack, PackError, _At

PACKS_DIR = Path(__file__).parent / "packs"


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the value at ``loc`` in the composed YAML tree (the deepest node that exists)."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1


@dataclass
class _Source:
    """A pack file as read: its data and, for each top-level key, the file and YAML node it came from."""

    path: Path
    data: dict[str, Any]
    nodes: dict[str, tuple[Path, yaml.Node]]


def _read(path: Path) -> _Source:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise PackError(f"{path.name} 第 {line} 行：YAML 格式错误（{exc.problem}）") from exc
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise PackError(f"{path.name} 第 1 行：规则文件应为一个映射（mapping）")
    return _Source(path, data, {k.value: (path, v) for k, v in node.value})


def _inherit(source: _Source, sources: dict[str, _Source]) -> _Source:
    """``extends: <pack>``: top-level keys not in the file come from the named pack (never its ``default``)."""
    parent_name = source.data.get("extends")
    if parent_name is None:
        return source
    line = source.nodes["extends"][1].start_mark.line + 1
    parent = sources.get(parent_name)
    if parent is None or parent is source or "extends" in parent.data:
        raise PackError(
            f"{source.path.name} 第 {line} 行：extends 须指向一个不再继承的规则文件，找不到 {parent_name!r}"
        )
    data = {k: v for k, v in parent.data.items() if k != "default"}
    nodes = {k: v for k, v in parent.nodes.items() if k != "default"}
    data.update(source.data)
    nodes.update(source.nodes)
    del data["extends"]
    return _Source(source.path, data, nodes)


def _validate(source: _Source) -> Pack:
    try:
        return Pack.model_validate(source.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _At):
            loc, first["msg"] = loc + cause.loc, str(cause)
        where = ".".join(str(part) for part in loc) or "(根)"
        path, node = source.nodes.get(str(loc[0]), (source.path, None)) if loc else (source.path, None)
        line = _line_of(node, loc[1:]) if node is not None else 1
        raise PackError(f"{path.name} 第 {line} 行（{where}）：{first['msg']}") from exc


class PackSet:
    """All packs in force; each region code resolves to its province's pack, else the national default."""

    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs = {pack.pack: pack for pack in packs}
        defaults = [p for p in self.packs.values() if p.default]
        if len(defaults) != 1:
            raise PackError(f"须有且仅有一个全国默认规则（default: true），现有 {len(defaults)} 个")
        self.default = defaults[0]
        self.by_province: dict[str, Pack] = {}
        for pack in self.packs.values():
            for province in pack.provinces:
                if province in self.by_province:
                    raise PackError(
                        f"省份 {province} 同时由 {self.by_province[province].pack} 和 {pack.pack} 规定"
                    )
                self.by_province[province] = pack

    def for_region(self, region_code: str) -> Pack:
        return self.by_province.get(region_code[:2] + "0000", self.default)

    def get(self, name: str) -> Pack | None:
        return self.packs.get(name)


def load_packs(directory: Path = PACKS_DIR) -> PackSet:
    """Every ``*.yaml`` in ``directory``; PackError names the file and line of the first thing wrong."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PackError(f"{directory} 中没有规则文件（*.yaml）")
    sources = [_read(path) for path in files]
    by_name: dict[str, _Source] = {}
    for src in sources:
        name = str(src.data.get("pack", src.path.stem))
        if name in by_name:
            raise PackError(
                f"{src.path.name} 第 {_line_of(src.nodes['pack'][1], ())} 行：规则包名 {name!r} 已由 "
                f"{by_name[name].path.name} 使用"
            )
        by_name[name] = src
    packs = [_validate(_inherit(src, by_name)) for src in sources]
    claimed: dict[str, Path] = {}
    for src, pack in zip(sources, packs, strict=True):
        for n, province in enumerate(pack.provinces):
            if province in claimed:
                line = _line_of(src.nodes["provinces"][1], (n,))
                raise PackError(
                    f"{src.path.name} 第 {line} 行：省份 {province} 已由 {claimed[province].name} 规定"
                )
            claimed[province] = src.path
    return PackSet(packs)


@cache
def packs_in(directory: Path | None = None) -> PackSet:
    """The packs of ``directory`` (None: the shipped ones), read once per process: a changed pack takes effect
    when the service restarts. Every service reads a province's numbers through this (QSR_GRADING_PACKS_DIR)."""
    return load_packs(directory or PACKS_DIR)
