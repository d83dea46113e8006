"""Policy packs: the shipped ones load and resolve by province; a broken one is refused with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.common.policy import PACKS_DIR, PackError, load_packs
from services.common.settings import Settings

# ------------------------------------------------------------------------------------------ the shipped packs


def test_the_shipped_packs_load_with_national_as_the_default() -> None:
    packs = load_packs()
    assert set(packs.packs) == {"national", "shanxi", "jiangsu", "hunan", "shanghai"}
    assert packs.default.pack == "national"
    assert {province: pack.pack for province, pack in packs.by_province.items()} == {
        "140000": "shanxi",
        "310000": "shanghai",
        "320000": "jiangsu",
        "430000": "hunan",
    }


@pytest.mark.parametrize(
    ("region_code", "pack_name"),
    [
        ("141121", "shanxi"),  # 文水县, 吕梁市
        ("310113", "shanghai"),  # 宝山区
        ("320100", "jiangsu"),  # 南京市
        ("430100", "hunan"),  # 长沙市
        ("360100", "national"),  # 南昌市: 江西 has no pack of its own
    ],
)
def test_a_region_resolves_to_its_provinces_pack(region_code: str, pack_name: str) -> None:
    assert load_packs().for_region(region_code).pack == pack_name


def test_extends_inherits_what_the_province_does_not_word_itself() -> None:
    packs = load_packs()
    national, shanxi, jiangsu, hunan = (packs.packs[n] for n in ("national", "shanxi", "jiangsu", "hunan"))
    for child in (shanxi, jiangsu, hunan):
        assert child.class_rules == national.class_rules
        assert child.escalation == national.escalation
        assert child.tiers == national.tiers
        assert child.responsible_level == national.responsible_level
        assert child.lapse == national.lapse
        assert child.deadlines == national.deadlines
    # ... and keeps what it words itself.
    assert shanxi.title == "山西省工业产品分层分级分类监管规则"
    assert shanxi.levels != national.levels
    assert shanxi.level_title("station") == "基层市场监管所（分局）、乡镇执法中队"
    assert jiangsu.locking.basis != national.locking.basis


def test_a_province_pack_never_inherits_default() -> None:
    packs = load_packs()
    assert packs.packs["national"].default
    assert not packs.packs["shanxi"].default
    assert [p.pack for p in packs.packs.values() if p.default] == ["national"]


# ------------------------------------------------------------------------------------------ broken packs


@pytest.fixture
def packs_dir(tmp_path: Path) -> Path:
    """A copy of the shipped packs to break."""
    return Path(shutil.copytree(PACKS_DIR, tmp_path / "packs"))


def edit(path: Path, old: str, new: str) -> int:
    """Replace the one occurrence of ``old`` by ``new``; return the 1-based line where ``new`` starts."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    start = text.index(old)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[:start].count("\n") + 1


def line_of(path: Path, fragment: str) -> int:
    """The 1-based line of the one line of ``path`` that holds ``fragment``."""
    lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} is on lines {lines} of {path.name}"
    return lines[0]


def refusal(directory: Path) -> str:
    with pytest.raises(PackError) as caught:
        load_packs(directory)
    return str(caught.value)


def test_a_yaml_syntax_error_is_refused_at_its_line(packs_dir: Path) -> None:
    line = edit(packs_dir / "shanxi.yaml", "title: 山西省", "title: 新: 山西省")
    message = refusal(packs_dir)
    assert message.startswith(f"shanxi.yaml 第 {line} 行")
    assert "YAML 格式错误" in message


def test_an_unknown_signal_kind_in_a_count_rule_is_refused_at_its_line(packs_dir: Path) -> None:
    line = edit(
        packs_dir / "national.yaml",
        "kinds: [spot_check_failed, major_accident, complaint_verified, recall, penalty, summoned]",
        "kinds: [spot_check_failed, fire_inspection_failed]",
    )
    message = refusal(packs_dir)
    assert message.startswith(f"national.yaml 第 {line} 行（class_rules.2.count.kinds）")
    assert "fire_inspection_failed" in message


def test_credit_risk_cannot_be_counted(packs_dir: Path) -> None:
    # credit_risk is a class the unit is in, not an event to count; rules on it use ``credit``.
    path = packs_dir / "shanghai.yaml"
    line = edit(
        path, "count: {kinds: [spot_check_failed], at_least: 1", "count: {kinds: [credit_risk], at_least: 1"
    )
    message = refusal(packs_dir)
    assert message.startswith(f"shanghai.yaml 第 {line} 行（class_rules.3.count.kinds）")
    assert "credit_risk" in message


@pytest.mark.parametrize(
    ("table", "old", "new"),
    [
        ("production", "employees: [1000, 300, 20]", "employees: [1000, 300, 300]"),
        ("wholesale", "employees: [200, 20, 5]", "employees: [200, 300, 5]"),
        ("retail", "revenue_wan_yuan: [20000, 500, 100]", "revenue_wan_yuan: [20000, 500, 0]"),
    ],
)
def test_bounds_that_do_not_descend_are_refused_at_their_line(
    packs_dir: Path, table: str, old: str, new: str
) -> None:
    path = packs_dir / "shanghai.yaml"
    line = edit(path, old, new)
    message = refusal(packs_dir)
    field = new.split(":")[0]
    assert message.startswith(f"shanghai.yaml 第 {line} 行（tiers.{table}.{field}）")
    assert "依次递减" in message


def test_a_rule_with_both_count_and_credit_is_refused_at_the_rule(packs_dir: Path) -> None:
    path = packs_dir / "national.yaml"
    edit(
        path,
        "    credit: [C]\n",
        "    credit: [C]\n    count: {kinds: [penalty], at_least: 1, within_days: 365}\n",
    )
    message = refusal(packs_dir)
    assert message.startswith(
        f"national.yaml 第 {line_of(path, '- id: key.credit_higher')} 行（class_rules.3）"
    )
    assert "count 或 credit 之一" in message


def test_a_rule_with_neither_count_nor_credit_is_refused_at_the_rule(packs_dir: Path) -> None:
    path = packs_dir / "national.yaml"
    edit(path, "    credit: [D]\n", "")
    message = refusal(packs_dir)
    assert message.startswith(
        f"national.yaml 第 {line_of(path, '- id: special.credit_high')} 行（class_rules.1）"
    )


def test_a_responsible_level_missing_from_levels_is_refused_at_its_line(packs_dir: Path) -> None:
    path = packs_dir / "shanghai.yaml"
    # 上海 has no city level: B goes to the district bureau.
    line = edit(
        path, "responsible_level: {A: province, B: county,", "responsible_level: {A: province, B: city,"
    )
    message = refusal(packs_dir)
    assert message.startswith(f"shanghai.yaml 第 {line} 行（responsible_level.B）")
    assert "未在 levels 中列出的层级 'city'" in message


def test_an_unknown_top_level_key_is_refused_at_its_line(packs_dir: Path) -> None:
    line = edit(packs_dir / "hunan.yaml", 'version: "2023.1"', 'version: "2023.1"\nvisits_per_year: 2') + 1
    message = refusal(packs_dir)
    assert message.startswith(f"hunan.yaml 第 {line} 行（visits_per_year）")
    assert "Extra inputs are not permitted" in message


def test_two_packs_claiming_one_province_are_refused(packs_dir: Path) -> None:
    edit(packs_dir / "hunan.yaml", 'provinces: ["430000"]', 'provinces: ["140000"]')
    message = refusal(packs_dir)
    # Files load in name order: hunan.yaml first, so shanxi.yaml is the one refused.
    assert message.startswith(f"shanxi.yaml 第 {line_of(packs_dir / 'shanxi.yaml', 'provinces:')} 行")
    assert "省份 140000 已由 hunan.yaml 规定" in message


def test_two_files_with_one_pack_name_are_refused(packs_dir: Path) -> None:
    # A second file with the same name would otherwise silently replace the first.
    copy = packs_dir / "shanxi-copy.yaml"
    shutil.copy(packs_dir / "shanxi.yaml", copy)
    edit(copy, 'provinces: ["140000"]', 'provinces: ["360000"]')
    message = refusal(packs_dir)
    assert message.startswith(f"shanxi.yaml 第 {line_of(copy, 'pack: shanxi')} 行")
    assert "已由 shanxi-copy.yaml 使用" in message


def test_no_default_pack_is_refused(packs_dir: Path) -> None:
    # National turns into a pack for 江西, so no file is the default any more.
    edit(packs_dir / "national.yaml", "default: true", 'provinces: ["360000"]')
    message = refusal(packs_dir)
    assert "须有且仅有一个全国默认规则（default: true），现有 0 个" in message


def test_two_default_packs_are_refused(packs_dir: Path) -> None:
    second = packs_dir / "national-2.yaml"
    shutil.copy(packs_dir / "national.yaml", second)
    edit(second, "pack: national", "pack: national-2")
    message = refusal(packs_dir)
    assert "现有 2 个" in message


def test_a_default_pack_that_names_provinces_is_refused(packs_dir: Path) -> None:
    path = packs_dir / "national.yaml"
    edit(path, "default: true", 'default: true\nprovinces: ["360000"]')
    message = refusal(packs_dir)
    assert message.startswith("national.yaml 第 ")
    assert "全国默认规则（default: true）不列省份" in message


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    assert "没有规则文件" in refusal(tmp_path)


def test_extends_to_a_missing_pack_is_refused_at_its_line(packs_dir: Path) -> None:
    line = edit(packs_dir / "jiangsu.yaml", "extends: national", "extends: nationwide")
    message = refusal(packs_dir)
    assert message.startswith(f"jiangsu.yaml 第 {line} 行")
    assert "'nationwide'" in message


def test_extends_to_a_pack_that_itself_extends_is_refused(packs_dir: Path) -> None:
    line = edit(packs_dir / "jiangsu.yaml", "extends: national", "extends: shanxi")
    assert refusal(packs_dir).startswith(f"jiangsu.yaml 第 {line} 行")


def test_an_error_in_an_inherited_key_names_the_parent_file(packs_dir: Path) -> None:
    # hunan (loaded first) inherits class_rules, so a bad count there is national.yaml's fault, and that file is named.
    path = packs_dir / "national.yaml"
    edit(path, "at_least: 3, within_days: 730}", "at_least: 0, within_days: 730}")
    message = refusal(packs_dir)
    assert message.startswith(
        f"national.yaml 第 {line_of(path, 'at_least: 0')} 行（class_rules.0.count.at_least）"
    )


# ------------------------------------------------------------------------------------------ the grading app


def test_the_grading_app_refuses_to_start_with_a_broken_pack(packs_dir: Path, tmp_path: Path) -> None:
    from services.grading.app import create_app

    line = edit(packs_dir / "jiangsu.yaml", "extends: national", "extends: nationwide")
    with pytest.raises(PackError, match=f"^jiangsu.yaml 第 {line} 行"):
        create_app(Settings(data_dir=tmp_path, grading_packs_dir=packs_dir))


def test_the_grading_app_uses_the_packs_in_its_settings(packs_dir: Path, tmp_path: Path) -> None:
    from services.grading.app import create_app

    edit(packs_dir / "hunan.yaml", 'version: "2023.1"', 'version: "2024.1"')
    app = create_app(Settings(data_dir=tmp_path, grading_packs_dir=packs_dir))
    assert app.state.packs.for_region("430100").version == "2024.1"
