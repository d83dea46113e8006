"""decide(): one unit's class, responsible level, escalation and locking, read against the seeds' own sentences.

Seed 001 (山西 晋市监发〔2023〕166号) is the ``shanxi`` pack (it extends ``national``); seed 003 (上海宝山
实施方案) is the ``shanghai`` pack. Every case is a plain call of the pure function on a fixed day.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.policy import Pack, load_packs
from services.grading.decide import Decision, ManualDecision, Signal, Size, decide

DAY = date(2026, 11, 23)

PACKS = load_packs()
SHANXI = PACKS.packs["shanxi"]
SHANGHAI = PACKS.packs["shanghai"]
NATIONAL = PACKS.packs["national"]
#: Shanxi's rules with classes held after their windows lapse (no shipped pack does this yet).
SHANXI_HOLD = SHANXI.model_copy(update={"lapse": "hold"})

WENSHUI = "141121"  # 山西省吕梁市文水县
LVLIANG = "141100"
SX_PROVINCE = "140000"
BAOSHAN = "310113"  # 上海市宝山区
SH_CITY = "310000"

#: Production units by tier; each is unambiguous under both combination rules (both indicators agree).
SIZES = {
    "A": Size("production", None, 2000, 50000),
    "B": Size("production", None, 500, 5000),
    "C": Size("production", None, 25, 1500),
    "D": Size("production", None, 5, 100),
}


# ------------------------------------------------------------------------------------------------ factories


def ago(days: int) -> date:
    return DAY - timedelta(days=days)


def failed(n: int, days_ago: int) -> Signal:
    """监督抽查不合格 of spot check ``check-n``."""
    return Signal(f"failed-{n}", "spot_check_failed", ago(days_ago), ref=f"check-{n}")


def overturned(n: int, days_ago: int) -> Signal:
    """复检推翻 spot check ``check-n``."""
    return Signal(f"overturn-{n}", "spot_check_overturned", ago(days_ago), ref=f"check-{n}")


def penalty(n: int, days_ago: int, *, heavier: bool = False) -> Signal:
    return Signal(f"penalty-{n}", "penalty", ago(days_ago), heavier=heavier)


def heavier(n: int, days_ago: int) -> Signal:
    """从重处罚."""
    return penalty(n, days_ago, heavier=True)


def accident(n: int, days_ago: int) -> Signal:
    return Signal(f"accident-{n}", "major_accident", ago(days_ago))


def complaint(n: int, days_ago: int) -> Signal:
    return Signal(f"complaint-{n}", "complaint_verified", ago(days_ago))


def recall(n: int, days_ago: int) -> Signal:
    return Signal(f"recall-{n}", "recall", ago(days_ago))


def credit(n: int, credit_class: str, days_ago: int = 30) -> Signal:
    return Signal(f"credit-{n}", "credit_risk", ago(days_ago), credit_class=credit_class)


def manual(
    supervision_class: str,
    reason: str = "现场检查发现质量管理体系失效",
    *,
    decided_days_ago: int = 10,
    expires_on: date | None = None,
) -> ManualDecision:
    return ManualDecision(
        id=f"manual-{supervision_class}",
        supervision_class=supervision_class,
        reason=reason,
        decided_on=ago(decided_days_ago),
        expires_on=expires_on or DAY + timedelta(days=180),
        decided_by="张科长",
    )


def active(decision: ManualDecision, today: date = DAY) -> ManualDecision | None:
    """What the repository hands the service: only a manual decision with ``expires_on > today``."""
    return decision if decision.expires_on > today else None


def grade(
    pack: Pack,
    signals: list[Signal],
    *,
    tier: str | None = "C",
    region: str | None = None,
    manual: ManualDecision | None = None,
    released_on: date | None = None,
    today: date = DAY,
) -> Decision:
    default_region = BAOSHAN if pack.pack == "shanghai" else WENSHUI
    return decide(
        pack,
        region_code=region or default_region,
        size=SIZES[tier] if tier else None,
        signals=signals,
        manual=manual,
        released_on=released_on,
        today=today,
    )


def rules(decision: Decision) -> list[str]:
    return [reason.rule for reason in decision.reasons]


# ------------------------------------------------------------------------------------- class: seed 001 山西

# 三(三)「对未发现或者质量安全风险小的…按照“无事不扰”原则，纳入属地日常监管或者实施触发式监管；
# 对发现较大质量安全风险或者信用风险较高的生产和销售单位，实施重点监管；对近2年内发现3次及以上重大质量安全
# 风险或者信用风险高的生产和销售单位，实施特别监管。」
SHANXI_CASES = [
    pytest.param([], "routine", "routine.no_risk_signal", id="未发现质量安全风险-无事不扰"),
    pytest.param(
        [failed(1, 30)], "key", "key.larger_risk_1y", id="发现较大质量安全风险(抽查不合格1次)-重点监管"
    ),
    pytest.param(
        [accident(1, 30)], "key", "key.larger_risk_1y", id="发现较大质量安全风险(较大事故)-重点监管"
    ),
    pytest.param(
        [failed(1, 10), failed(2, 300), failed(3, 700)],
        "special",
        "special.major_risk_3_in_2y",
        id="近2年内发现3次及以上重大质量安全风险-特别监管",
    ),
    pytest.param(
        [failed(1, 10), complaint(2, 400), recall(3, 729)],
        "special",
        "special.major_risk_3_in_2y",
        id="近2年内3次重大质量安全风险(抽查、投诉、召回)-特别监管",
    ),
    pytest.param(
        [failed(1, 10), failed(2, 400), failed(3, 730)],
        "key",
        "key.larger_risk_1y",
        id="3次中1次已满730天-不足近2年内3次-仅重点监管",
    ),
    pytest.param(
        [failed(1, 400), failed(2, 500), failed(3, 730)],
        "routine",
        "routine.no_risk_signal",
        id="3次中1次已满730天且余者超1年-无事不扰",
    ),
    pytest.param([credit(1, "C")], "key", "key.credit_higher", id="信用风险较高(C类)-重点监管"),
    pytest.param([credit(1, "D")], "special", "special.credit_high", id="信用风险高(D类)-特别监管"),
    pytest.param([credit(1, "B")], "routine", "routine.no_risk_signal", id="信用风险B类-无事不扰"),
    pytest.param(
        [credit(1, "D", 200), credit(2, "B", 20)],
        "routine",
        "routine.no_risk_signal",
        id="信用风险以最近一次分类为准(D后改为B)",
    ),
    pytest.param(
        [credit(1, "B", 200), credit(2, "C", 20)],
        "key",
        "key.credit_higher",
        id="信用风险以最近一次分类为准(B后改为C)",
    ),
]


@pytest.mark.parametrize(("signals", "expected", "rule"), SHANXI_CASES)
def test_shanxi_class_rules(signals: list[Signal], expected: str, rule: str) -> None:
    decision = grade(SHANXI, signals)
    assert decision.supervision_class == expected
    assert decision.automatic_class == expected
    assert decision.class_source == "automatic"
    assert decision.class_rule == rule


# ------------------------------------------------------------------------------------ class: seed 003 宝山

# 三(四)「对未发现或仅发现轻微产品质量问题被责令改正的…纳入日常监管或者实施触发式监管；对信用风险较高的或者
# 近 1 年内发现产品质量、工业产品生产许可证、强制性产品认证违法被处罚的生产和销售单位，实施重点监管；对信用
# 风险高的或者近 2 年内发现 3 次及以上产品质量、工业产品生产许可证、强制性产品认证违法被从重处罚的生产和销售
# 单位，实施特别监管。」
BAOSHAN_CASES = [
    pytest.param([], "routine", "routine.no_risk_signal", id="未发现产品质量问题-无事不扰"),
    pytest.param([penalty(1, 100)], "key", "key.penalised_1y", id="近1年内违法被处罚-重点监管"),
    pytest.param([penalty(1, 364)], "key", "key.penalised_1y", id="处罚364天前-仍在近1年内-重点监管"),
    pytest.param([penalty(1, 366)], "routine", "routine.no_risk_signal", id="处罚366天前-超出近1年-无事不扰"),
    pytest.param(
        [heavier(1, 30), heavier(2, 400), heavier(3, 700)],
        "special",
        "special.heavier_penalty_3_in_2y",
        id="近2年内3次及以上违法被从重处罚-特别监管",
    ),
    pytest.param(
        [heavier(1, 30), heavier(2, 400), penalty(3, 700)],
        "key",
        "key.penalised_1y",
        id="3次处罚中1次非从重-不足3次从重-仅重点监管",
    ),
    pytest.param(
        [heavier(1, 30), heavier(2, 400), heavier(3, 730)],
        "key",
        "key.penalised_1y",
        id="3次从重处罚中1次已满730天-仅重点监管",
    ),
    pytest.param([credit(1, "C")], "key", "key.credit_higher", id="信用风险较高(C类)-重点监管"),
    pytest.param([credit(1, "D")], "special", "special.credit_high", id="信用风险高(D类)-特别监管"),
]


@pytest.mark.parametrize(("signals", "expected", "rule"), BAOSHAN_CASES)
def test_baoshan_class_rules(signals: list[Signal], expected: str, rule: str) -> None:
    decision = grade(SHANGHAI, signals)
    assert decision.supervision_class == expected
    assert decision.class_source == "automatic"
    assert decision.class_rule == rule


# ------------------------------------------------------------------------------------------------- evidence


def test_reasons_carry_the_ids_of_the_counted_signals_only() -> None:
    signals = [failed(1, 10), complaint(2, 300), recall(3, 700), failed(4, 800), credit(5, "B")]
    decision = grade(SHANXI, signals)
    assert decision.supervision_class == "special"
    [reason] = decision.reasons
    assert reason.evidence == ("recall-3", "complaint-2", "failed-1")  # oldest first
    assert decision.evidence == ["complaint-2", "failed-1", "recall-3"]
    assert "计 3 次" in reason.text


def test_the_class_rule_is_the_packs_rule_with_its_seed_sentence() -> None:
    decision = grade(SHANGHAI, [penalty(1, 100)])
    rule = next(r for r in SHANGHAI.class_rules if r.id == decision.class_rule)
    assert rule.to == "key"
    assert decision.reasons[0].basis == rule.basis
    assert "近 1 年内发现产品质量" in rule.basis
    assert decision.evidence == ["penalty-1"]


def test_credit_evidence_is_the_latest_assessment() -> None:
    decision = grade(SHANXI, [credit(1, "C", 300), credit(2, "D", 10)])
    assert decision.class_rule == "special.credit_high"
    assert decision.evidence == ["credit-2"]


@pytest.mark.parametrize("pack", [SHANXI, SHANGHAI, NATIONAL], ids=lambda p: p.pack)
def test_pack_and_version_are_recorded(pack: Pack) -> None:
    decision = grade(pack, [failed(1, 10)])
    assert (decision.pack, decision.pack_version) == (pack.pack, pack.version)
    assert decision.class_rule in {rule.id for rule in pack.class_rules}


def test_several_rules_of_the_winning_class_are_all_given() -> None:
    decision = grade(SHANXI, [failed(1, 10), credit(2, "C")])
    assert rules(decision) == ["key.larger_risk_1y", "key.credit_higher"]
    assert decision.evidence == ["credit-2", "failed-1"]


# ---------------------------------------------------------------------------------------- responsible level

# 001 三(一)1「原则上，省、市、县级市场监管部门及基层市场监管所（分局）分别对应A、B、C、D级主体」
# 003 附件2: 市市场监管局 — A 级；区市场监管局 — B 级；市场监管所（队）— C、D 级
LEVEL_CASES = [
    pytest.param(SHANXI, "A", "province", SX_PROVINCE, "省市场监管局", id="山西A-省局"),
    pytest.param(SHANXI, "B", "city", LVLIANG, "市市场监管局", id="山西B-市局"),
    pytest.param(SHANXI, "C", "county", WENSHUI, "县（市、区）市场监管局", id="山西C-县局"),
    pytest.param(SHANXI, "D", "station", WENSHUI, "基层市场监管所（分局）、乡镇执法中队", id="山西D-所"),
    pytest.param(SHANGHAI, "A", "province", SH_CITY, "市市场监管局", id="宝山A-市局"),
    pytest.param(
        SHANGHAI, "B", "county", BAOSHAN, "区市场监管局、临港新片区市场监管局、市局机场分局", id="宝山B-区局"
    ),
    pytest.param(SHANGHAI, "C", "station", BAOSHAN, "市场监管所（队）", id="宝山C-所"),
    pytest.param(SHANGHAI, "D", "station", BAOSHAN, "市场监管所（队）", id="宝山D-所"),
]


@pytest.mark.parametrize(("pack", "tier", "level", "region", "title"), LEVEL_CASES)
def test_responsible_level_by_tier(pack: Pack, tier: str, level: str, region: str, title: str) -> None:
    decision = grade(pack, [], tier=tier)
    assert decision.tier is not None and decision.tier.tier == tier
    assert (decision.responsible_level, decision.responsible_region) == (level, region)
    assert decision.responsible_level_title == title
    assert not decision.escalated


def test_a_unit_without_a_size_has_no_tier_but_still_a_class() -> None:
    decision = grade(SHANXI, [failed(1, 10)], tier=None)
    assert decision.tier is None
    assert decision.responsible_level is None and decision.responsible_region is None
    assert decision.supervision_class == "key"


# ------------------------------------------------------------------------------------------------ escalation

# 001 三(一)1「发生较大质量安全事故或者多次发现重大质量安全风险隐患的生产和销售单位，可由上一级市场监管部门
# 监管或挂牌督办」


def test_shanxi_major_accident_moves_the_level_one_up() -> None:
    decision = grade(SHANXI, [accident(1, 100)], tier="C")
    assert decision.escalated
    assert (decision.responsible_level, decision.responsible_region) == ("city", LVLIANG)
    assert decision.responsible_level_title == "市市场监管局"
    [reason] = decision.escalation_reasons
    assert reason.rule == "escalation.major_accident"
    assert reason.evidence == ("accident-1",)


def test_shanxi_two_failed_spot_checks_within_two_years_escalate() -> None:
    decision = grade(SHANXI, [failed(1, 10), failed(2, 600)], tier="C")
    assert decision.escalated
    assert decision.responsible_level == "city"
    assert [r.rule for r in decision.escalation_reasons] == ["escalation.repeated_major_risk"]
    assert decision.escalation_reasons[0].evidence == ("failed-2", "failed-1")


@pytest.mark.parametrize(
    "signals",
    [
        pytest.param([failed(1, 10)], id="一次抽查不合格"),
        pytest.param([failed(1, 10), failed(2, 730)], id="第二次已满730天"),
        pytest.param([accident(1, 730)], id="事故已满730天"),
    ],
)
def test_shanxi_no_escalation(signals: list[Signal]) -> None:
    decision = grade(SHANXI, signals, tier="C")
    assert not decision.escalated
    assert decision.escalation_reasons == ()
    assert decision.responsible_level == "county"


def test_shanxi_escalation_of_a_tier_b_unit_goes_to_the_province() -> None:
    decision = grade(SHANXI, [accident(1, 10)], tier="B")
    assert (decision.responsible_level, decision.responsible_region) == ("province", SX_PROVINCE)


def test_a_tier_a_unit_cannot_go_higher_than_the_province() -> None:
    decision = grade(SHANXI, [accident(1, 10)], tier="A")
    assert decision.escalated
    assert (decision.responsible_level, decision.responsible_region) == ("province", SX_PROVINCE)


# 003 附件2「市市场监管局…对发生较大质量安全事故或者多次发现重大质量违法的 B 级主体挂牌督办」


def test_baoshan_two_heavier_penalties_escalate_b_to_the_city_bureau() -> None:
    decision = grade(SHANGHAI, [heavier(1, 30), heavier(2, 500)], tier="B")
    assert decision.escalated
    assert (decision.responsible_level, decision.responsible_region) == ("province", SH_CITY)
    assert decision.responsible_level_title == "市市场监管局"
    assert [r.rule for r in decision.escalation_reasons] == ["escalation.repeated_major_violation"]
    assert decision.escalation_reasons[0].evidence == ("penalty-2", "penalty-1")


def test_baoshan_two_ordinary_penalties_do_not_escalate() -> None:
    decision = grade(SHANGHAI, [penalty(1, 30), heavier(2, 500)], tier="B")
    assert not decision.escalated
    assert decision.responsible_level == "county"


# 003 附件2「区市场监管局…对发生较大质量安全事故或者多次发现重大质量违法的 C、D 级主体挂牌督办」
@pytest.mark.parametrize("tier", ["C", "D"])
def test_baoshan_escalates_c_and_d_from_the_station_to_the_district(tier: str) -> None:
    decision = grade(SHANGHAI, [accident(1, 30)], tier=tier)
    assert decision.escalated
    assert (decision.responsible_level, decision.responsible_region) == ("county", BAOSHAN)


# --------------------------------------------------------------------------------------------------- locking

# 001 三(一)1「…将监管责任建档锁定明确到人，且半年内现场检查不少于1次」


@pytest.mark.parametrize(
    ("signals", "lock_rule"),
    [
        pytest.param([failed(1, 10)], "locking.key", id="重点监管"),
        pytest.param([credit(1, "D")], "locking.special", id="特别监管"),
    ],
)
def test_shanxi_key_and_special_units_are_locked(signals: list[Signal], lock_rule: str) -> None:
    decision = grade(SHANXI, signals)
    assert decision.locked
    assert decision.visit_every_months == 6
    assert decision.lock_reasons[0].rule == lock_rule
    assert "半年内现场检查不少于1次" in decision.lock_reasons[0].basis


def test_shanxi_routine_units_are_not_locked() -> None:
    decision = grade(SHANXI, [failed(1, 400)])
    assert not decision.locked
    assert decision.lock_reasons == ()
    assert decision.visit_every_months is None


# 003 三(五)「选定本层级中近 1 年内发现产品质量、工业产品生产许可证、强制性产品认证违法被处罚的生产和销售单位，
# 将属地监管责任建档明确到具体监管人员，半年内开展现场检查不少于 1 次」


def test_baoshan_penalised_unit_is_locked() -> None:
    decision = grade(SHANGHAI, [penalty(1, 100)])
    assert decision.locked
    assert decision.visit_every_months == 6
    [reason] = decision.lock_reasons
    assert reason.rule == "locking.penalised_1y"
    assert reason.evidence == ("penalty-1",)


@pytest.mark.parametrize(
    "signals",
    [
        pytest.param([credit(1, "C")], id="仅因信用风险较高而重点监管"),
        pytest.param([credit(1, "D")], id="仅因信用风险高而特别监管"),
        pytest.param([penalty(1, 365)], id="处罚已满365天"),
    ],
)
def test_baoshan_units_not_penalised_within_a_year_are_not_locked(signals: list[Signal]) -> None:
    decision = grade(SHANGHAI, signals)
    assert not decision.locked
    assert decision.visit_every_months is None


# ---------------------------------------------------------------------------------------- 复检推翻 (re-test)


def _orders(signals: list[Signal]) -> list[list[Signal]]:
    return [signals, list(reversed(signals))]


@pytest.mark.parametrize("order", [0, 1], ids=["failure-first", "overturn-first"])
def test_an_overturned_failure_no_longer_makes_a_unit_key(order: int) -> None:
    signals = _orders([failed(1, 40), overturned(1, 10)])[order]
    decision = grade(SHANXI, signals)
    assert decision.supervision_class == "routine"
    assert decision.overturned == ("failed-1",)
    assert decision.evidence == []
    assert not decision.locked


@pytest.mark.parametrize("order", [0, 1], ids=["failure-first", "overturn-first"])
def test_an_overturned_failure_undoes_its_escalation(order: int) -> None:
    escalated = grade(SHANXI, [failed(1, 100), failed(2, 40)], tier="C")
    assert escalated.escalated and escalated.responsible_level == "city"
    signals = _orders([failed(1, 100), failed(2, 40), overturned(2, 10)])[order]
    decision = grade(SHANXI, signals, tier="C")
    assert not decision.escalated
    assert decision.responsible_level == "county"
    assert decision.supervision_class == "key"
    assert decision.evidence == ["failed-1"]
    assert decision.overturned == ("failed-2",)


@pytest.mark.parametrize("order", [0, 1], ids=["failure-first", "overturn-first"])
def test_overturning_one_of_three_brings_special_down_to_key(order: int) -> None:
    signals = _orders([failed(1, 10), failed(2, 300), failed(3, 600), overturned(2, 280)])[order]
    decision = grade(SHANXI, signals)
    assert decision.supervision_class == "key"
    assert decision.class_rule == "key.larger_risk_1y"
    assert decision.overturned == ("failed-2",)
    assert "failed-2" not in decision.evidence


def test_an_overturn_of_another_spot_check_voids_nothing() -> None:
    decision = grade(SHANXI, [failed(1, 10), overturned(9, 5)])
    assert decision.supervision_class == "key"
    assert decision.overturned == ()


# --------------------------------------------------------------------------------------- windows and lapse

# Window semantics of _counted: a signal counts while today - within_days < occurred_on <= today.


@pytest.mark.parametrize("pack", [NATIONAL, SHANXI], ids=lambda p: p.pack)
@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [
        pytest.param(0, "key", id="today"),
        pytest.param(364, "key", id="364-days-ago"),
        pytest.param(365, "routine", id="365-days-ago-lapsed"),
        pytest.param(-1, "routine", id="tomorrow-not-yet"),
    ],
)
def test_a_failed_spot_check_lapses_after_365_days(pack: Pack, days_ago: int, expected: str) -> None:
    decision = grade(pack, [failed(1, days_ago)])
    assert decision.supervision_class == expected
    assert decision.class_source == "automatic"


@pytest.mark.parametrize(
    ("oldest", "expected"),
    [pytest.param(729, "special", id="729-days"), pytest.param(730, "key", id="730-days-lapsed")],
)
def test_the_two_year_window_is_730_days(oldest: int, expected: str) -> None:
    decision = grade(SHANXI, [failed(1, 10), failed(2, 20), failed(3, oldest)])
    assert decision.supervision_class == expected


@pytest.mark.parametrize(
    "signal",
    [
        pytest.param(failed(1, -10), id="spot-check"),
        pytest.param(accident(1, -10), id="accident"),
        pytest.param(credit(1, "D", -10), id="credit"),
    ],
)
def test_a_signal_dated_in_the_future_does_not_count(signal: Signal) -> None:
    decision = grade(SHANXI, [signal])
    assert decision.supervision_class == "routine"
    assert not decision.escalated
    assert not decision.locked


def test_a_future_credit_assessment_does_not_replace_the_current_one() -> None:
    decision = grade(SHANXI, [credit(1, "C", 10), credit(2, "A", -10)])
    assert decision.supervision_class == "key"


# ------------------------------------------------------------------------------------- replay in any order

KINDS = [
    "spot_check_failed",
    "spot_check_overturned",
    "penalty",
    "major_accident",
    "complaint_verified",
    "credit_risk",
    "summoned",
    "recall",
]


@st.composite
def signal_lists(draw: st.DrawFn) -> list[Signal]:
    count = draw(st.integers(0, 12))
    signals = []
    for n in range(count):
        kind = draw(st.sampled_from(KINDS))
        occurred_on = ago(draw(st.integers(-30, 900)))
        check = f"check-{draw(st.integers(0, 5))}"
        signals.append(
            Signal(
                id=f"s-{n}",
                kind=kind,
                occurred_on=occurred_on,
                heavier=kind == "penalty" and draw(st.booleans()),
                credit_class=draw(st.sampled_from("ABCD")) if kind == "credit_risk" else None,
                ref=check if kind.startswith("spot_check") else None,
            )
        )
    return signals


@settings(max_examples=300, deadline=None)
@given(
    pack=st.sampled_from([SHANXI, SHANGHAI, NATIONAL, SHANXI_HOLD]),
    tier=st.sampled_from(["A", "B", "C", "D"]),
    signals=signal_lists(),
    manual_class=st.sampled_from([None, "routine", "key", "special"]),
    released_days_ago=st.none() | st.integers(0, 900),
    data=st.data(),
)
def test_replay_in_another_order_gives_the_same_decision(
    pack: Pack,
    tier: str,
    signals: list[Signal],
    manual_class: str | None,
    released_days_ago: int | None,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(signals))
    decision_manual = manual(manual_class) if manual_class else None
    released_on = ago(released_days_ago) if released_days_ago is not None else None
    first = grade(pack, signals, tier=tier, manual=decision_manual, released_on=released_on)
    again = grade(pack, list(shuffled), tier=tier, manual=decision_manual, released_on=released_on)
    assert first == again


# ------------------------------------------------------------------------------------------ manual decisions


def test_a_stricter_manual_decision_raises_the_class() -> None:
    decision = grade(SHANXI, [failed(1, 10)], manual=manual("special", "多次投诉未整改"))
    assert decision.supervision_class == "special"
    assert decision.class_source == "manual"
    assert decision.automatic_class == "key"
    assert decision.manual_id == "manual-special"
    assert decision.class_rule == "manual.special"
    assert "多次投诉未整改" in decision.reasons[0].text
    assert "张科长" in decision.reasons[0].text
    assert "key.larger_risk_1y" in rules(decision)  # the automatic reason is still shown
    assert decision.lock_reasons[0].rule == "locking.special"


def test_a_manual_decision_can_raise_a_routine_unit() -> None:
    decision = grade(SHANXI, [], manual=manual("key", "群众反映强烈"))
    assert (decision.supervision_class, decision.class_source) == ("key", "manual")
    assert rules(decision) == ["manual.key"]
    assert "群众反映强烈" in decision.class_text
    assert decision.locked


def test_a_lower_manual_decision_loses_to_live_signals() -> None:
    signals = [failed(1, 10), failed(2, 100), failed(3, 200)]
    decision = grade(SHANXI, signals, manual=manual("routine", "企业已整改"))
    assert decision.supervision_class == "special"
    assert decision.class_source == "automatic"
    assert decision.manual_id == "manual-routine"  # shown, though it does not win
    assert decision.class_rule == "special.major_risk_3_in_2y"
    overruled = decision.reasons[-1]
    assert overruled.rule == "manual.overruled"
    assert "企业已整改" in overruled.text
    assert "以自动判定为准" in overruled.text


def test_an_equal_manual_decision_is_recorded_as_consistent() -> None:
    decision = grade(SHANXI, [failed(1, 10)], manual=manual("key"))
    assert decision.supervision_class == "key"
    assert decision.class_source == "automatic"
    assert decision.manual_id == "manual-key"
    assert rules(decision) == ["key.larger_risk_1y", "manual.key"]
    assert "与自动判定一致" in decision.reasons[-1].text


@pytest.mark.parametrize(
    ("expires_in", "expected", "source"),
    [
        pytest.param(1, "special", "manual", id="last-day-still-active"),
        pytest.param(0, "key", "automatic", id="expired-today"),
        pytest.param(-30, "key", "automatic", id="expired-last-month"),
    ],
)
def test_after_expiry_the_automatic_class_is_back(expires_in: int, expected: str, source: str) -> None:
    # The repository passes only a manual decision with expires_on > today; active() does the same here.
    raised = manual("special", decided_days_ago=200, expires_on=DAY + timedelta(days=expires_in))
    decision = grade(SHANXI, [failed(1, 10)], manual=active(raised))
    assert (decision.supervision_class, decision.class_source) == (expected, source)


# ---------------------------------------------------------------------------------- held lapse (lapse: hold)


def test_under_hold_a_lapsed_class_is_held() -> None:
    signals = [failed(1, 400)]
    assert grade(SHANXI, signals).supervision_class == "routine"  # the shipped rule lets it lapse
    decision = grade(SHANXI_HOLD, signals)
    assert decision.supervision_class == "key"
    assert decision.class_source == "held"
    assert decision.automatic_class == "key"
    assert decision.class_rule == "key.larger_risk_1y"
    assert decision.evidence == ["failed-1"]
    assert "已超出时限" in decision.class_text
    assert decision.locked


def test_under_hold_a_class_within_its_window_is_automatic() -> None:
    decision = grade(SHANXI_HOLD, [failed(1, 10)])
    assert (decision.supervision_class, decision.class_source) == ("key", "automatic")


def test_a_lower_manual_decision_releases_a_held_class() -> None:
    decision = grade(SHANXI_HOLD, [failed(1, 400)], manual=manual("routine", "已整改并复查合格"))
    assert decision.supervision_class == "routine"
    assert decision.class_source == "manual"
    assert decision.released
    assert decision.manual_id == "manual-routine"
    assert "已整改并复查合格" in decision.class_text


def test_after_release_the_held_class_is_gone_without_the_manual_decision() -> None:
    decision = grade(SHANXI_HOLD, [failed(1, 400)], released_on=ago(30))
    assert decision.supervision_class == "routine"
    assert decision.class_source == "automatic"
    assert not decision.released


def test_release_covers_only_signals_up_to_the_release_date() -> None:
    decision = grade(SHANXI_HOLD, [failed(1, 600), failed(2, 400)], released_on=ago(500))
    assert (decision.supervision_class, decision.class_source) == ("key", "held")
    assert decision.evidence == ["failed-2"]


def test_a_manual_decision_never_goes_below_live_signals_under_hold() -> None:
    decision = grade(SHANXI_HOLD, [failed(1, 400), failed(2, 10)], manual=manual("routine"))
    assert decision.supervision_class == "key"
    assert decision.class_source == "automatic"
    assert not decision.released
    assert decision.reasons[-1].rule == "manual.overruled"


def test_a_manual_decision_releases_a_held_special_down_to_the_live_key() -> None:
    signals = [failed(1, 800), failed(2, 790), failed(3, 10)]
    held = grade(SHANXI_HOLD, signals)
    assert (held.supervision_class, held.class_source) == ("special", "held")
    decision = grade(SHANXI_HOLD, signals, manual=manual("key"))
    assert (decision.supervision_class, decision.class_source) == ("key", "manual")
    assert decision.released


def test_a_manual_decision_below_live_still_releases_the_held_part() -> None:
    # Module docstring: "a lower manual decision releases the held class, but never a class that live signals
    # still call for". Held special (lapsed), live key, manual routine → the held special is released, the
    # live key stays, and the decision says the signals overrule the manual routine.
    signals = [failed(1, 800), failed(2, 790), failed(3, 10)]
    decision = grade(SHANXI_HOLD, signals, manual=manual("routine"))
    assert decision.reasons[-1].rule == "manual.overruled"
    assert "风险信号要求重点监管" in decision.reasons[-1].text
    assert decision.supervision_class == "key" and decision.released


def test_under_hold_a_signal_dated_in_the_future_does_not_count() -> None:
    # A held class ignores the windows' start, never their end: a future-dated signal holds nothing.
    decision = grade(SHANXI_HOLD, [failed(1, -10)])
    assert decision.supervision_class == "routine"
    assert decision.class_source == "automatic"
