"""One unit's decision under a policy pack: tier, responsible level, supervision class, escalation, locking.

A plain function of plain data: the pack, the unit's size, its risk signals, its active manual decision and
the day. The order in which signals arrived never matters; only which are valid on ``today``.

Manual decisions never silently lose to or override the automatic result. The stricter of the two wins,
and the decision shows both. One exception is a pack whose classes are held after their windows lapse
(``lapse: hold``). There a lower manual decision releases the held class, but never a class that live
signals still call for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.common.policy import CLASS_NAMES, CLASS_ORDER, SIGNAL_KINDS, Count, Pack, Rule
from services.grading.tiering import TierDecision, assign_tier

REGION_PREFIX = {"province": 2, "city": 4, "county": 6, "station": 6}


@dataclass(frozen=True)
class Signal:
    """风险信号: one input that can move a class. ``ref`` names the spot check it is about, if any."""

    id: str
    kind: str
    occurred_on: date
    heavier: bool = False
    credit_class: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Size:
    kind: str
    sales_channel: str | None
    employees: int
    revenue_wan_yuan: float


@dataclass(frozen=True)
class ManualDecision:
    id: str
    supervision_class: str
    reason: str
    decided_on: date
    expires_on: date
    decided_by: str


@dataclass(frozen=True)
class Reason:
    rule: str
    text: str
    basis: str = ""
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    pack: str
    pack_version: str
    tier: TierDecision | None
    responsible_level: str | None
    responsible_level_title: str | None
    responsible_region: str | None
    supervision_class: str
    class_source: str  # automatic | manual | held
    automatic_class: str
    reasons: tuple[Reason, ...]
    escalated: bool
    escalation_reasons: tuple[Reason, ...]
    locked: bool
    lock_reasons: tuple[Reason, ...]
    visit_every_months: int | None
    manual_id: str | None = None
    overturned: tuple[str, ...] = field(default=())
    #: A manual decision released a held class today; signals up to today no longer hold it.
    released: bool = False

    @property
    def class_rule(self) -> str:
        return self.reasons[0].rule

    @property
    def class_text(self) -> str:
        return "；".join(reason.text for reason in self.reasons)

    @property
    def evidence(self) -> list[str]:
        return sorted({signal for reason in self.reasons for signal in reason.evidence})


def valid_signals(signals: list[Signal]) -> tuple[list[Signal], tuple[str, ...]]:
    """The signals that still stand: a spot-check failure overturned on re-test (复检推翻) no longer counts."""
    overturned = {s.ref for s in signals if s.kind == "spot_check_overturned" and s.ref}
    standing, voided = [], []
    summonses: set[str] = set()
    for s in sorted(signals, key=lambda s: (s.occurred_on, s.id)):
        if s.kind == "spot_check_overturned":
            continue
        if s.kind == "summoned" and s.ref:
            # One summons (约谈) is one signal, however often it was announced.
            if s.ref in summonses:
                continue
            summonses.add(s.ref)
        if s.kind == "spot_check_failed" and s.ref in overturned:
            voided.append(s.id)
        else:
            standing.append(s)
    return standing, tuple(voided)


def _counted(count: Count, signals: list[Signal], today: date, windowed: bool) -> list[Signal]:
    """The signals a count rule sees on ``today``; unwindowed (a held class), every one up to today."""
    since = today - timedelta(days=count.within_days) if windowed else date.min
    return [
        s
        for s in signals
        if s.kind in count.kinds and since < s.occurred_on <= today and (s.heavier or not count.heavier_only)
    ]


def _matches(rule: Rule, signals: list[Signal], today: date, windowed: bool = True) -> Reason | None:
    if rule.count is not None:
        seen = _counted(rule.count, signals, today, windowed)
        if len(seen) < rule.count.at_least:
            return None
        kinds = Counter(s.kind for s in seen)
        counted = "、".join(f"{SIGNAL_KINDS.get(k, k)} {n} 次" for k, n in sorted(kinds.items()))
        text = f"{rule.text}（计 {len(seen)} 次：{counted}）"
        return Reason(rule.id, text, rule.basis, tuple(s.id for s in seen))
    credits = [s for s in signals if s.kind == "credit_risk" and s.credit_class and s.occurred_on <= today]
    if not credits:
        return None
    latest = credits[-1]  # signals come sorted by (occurred_on, id)
    assert rule.credit is not None
    if latest.credit_class not in rule.credit:
        return None
    return Reason(rule.id, f"{rule.text}（信用风险分类 {latest.credit_class} 类）", rule.basis, (latest.id,))


def _class_from(
    pack: Pack, signals: list[Signal], today: date, windowed: bool = True
) -> tuple[str, list[Reason]]:
    matched = [
        (rule.to, reason) for rule in pack.class_rules if (reason := _matches(rule, signals, today, windowed))
    ]
    if not matched:
        return "routine", []
    top = max(CLASS_ORDER[to] for to, _ in matched)
    supervision_class = next(to for to, _ in matched if CLASS_ORDER[to] == top)
    return supervision_class, [reason for to, reason in matched if to == supervision_class]


ROUTINE_REASON = Reason(
    "routine.no_risk_signal", "未发现质量安全风险，按“无事不扰”原则纳入日常监管或实施触发式监管"
)


def responsible_region(region_code: str, level: str) -> str:
    digits = REGION_PREFIX[level]
    return region_code[:digits].ljust(6, "0")


def decide(
    pack: Pack,
    *,
    region_code: str,
    size: Size | None,
    signals: list[Signal],
    manual: ManualDecision | None,
    released_on: date | None = None,
    today: date,
) -> Decision:
    """The decision for one unit on ``today``.

    ``released_on`` is the date of the last manual decision that released a held class. Signals up to that
    day no longer hold it.
    """
    standing, voided = valid_signals(signals)
    tier = None
    if size is not None:
        table = pack.tiers.table(size.kind, size.sales_channel)
        tier = assign_tier(table, size.employees, size.revenue_wan_yuan, pack.tiers.combination_rule)

    live_class, live_reasons = _class_from(pack, standing, today)
    automatic_class, source, reasons = live_class, "automatic", live_reasons or [ROUTINE_REASON]
    if pack.lapse == "hold":
        unreleased = [s for s in standing if released_on is None or s.occurred_on > released_on]
        held_class, held_reasons = _class_from(pack, unreleased, today, windowed=False)
        if CLASS_ORDER[held_class] > CLASS_ORDER[live_class]:
            automatic_class, source = held_class, "held"
            reasons = [
                Reason(
                    r.rule,
                    f"{r.text}；风险信号已超出时限，按规则保持{CLASS_NAMES[held_class]}，待监管人员确认后调整",
                    r.basis,
                    r.evidence,
                )
                for r in held_reasons
            ]

    supervision_class = automatic_class
    manual_id, released = None, False
    if manual is not None:
        manual_id = manual.id
        wanted, live, auto = (CLASS_ORDER[c] for c in (manual.supervision_class, live_class, automatic_class))
        # A manual decision below a held class releases it, down to what live signals call for at most.
        released = source == "held" and wanted < auto
        note = (
            f"人工设定为{CLASS_NAMES[manual.supervision_class]}（{manual.reason}；{manual.decided_by}，"
            f"有效期至 {manual.expires_on.isoformat()}）"
        )
        if wanted < live:
            if released:
                supervision_class, source, reasons = live_class, "automatic", list(live_reasons)
            text = f"{note}，但风险信号要求{CLASS_NAMES[live_class]}，较人工设定更严，以自动判定为准"
            reasons = [*reasons, Reason("manual.overruled", text, "", ())]
        elif wanted == auto and source != "held":
            text = f"{note}，与自动判定一致"
            reasons = [*reasons, Reason(f"manual.{manual.supervision_class}", text, "", ())]
        else:
            supervision_class, source = manual.supervision_class, "manual"
            reasons = [Reason(f"manual.{manual.supervision_class}", f"{note}，以人工设定为准", "", ())]
            reasons += live_reasons

    escalation = [r for rule in pack.escalation.rules if (r := _matches(rule, standing, today))]
    lock = [r for rule in pack.locking.rules if (r := _matches(rule, standing, today))]
    if supervision_class in pack.locking.classes:
        lock.insert(
            0,
            Reason(
                f"locking.{supervision_class}",
                f"{CLASS_NAMES[supervision_class]}单位，监管责任建档锁定明确到人，"
                f"{pack.locking.visit_every_months} 个月内现场检查不少于 1 次",
                pack.locking.basis,
                (),
            ),
        )

    level = level_title = region = None
    if tier is not None:
        level = pack.responsible_level[tier.tier]  # type: ignore[index]
        if escalation:
            level = pack.level_above(level)
        level_title = pack.level_title(level)
        region = responsible_region(region_code, level)

    return Decision(
        pack=pack.pack,
        pack_version=pack.version,
        tier=tier,
        responsible_level=level,
        responsible_level_title=level_title,
        responsible_region=region,
        supervision_class=supervision_class,
        class_source=source,
        automatic_class=automatic_class,
        reasons=tuple(reasons),
        escalated=bool(escalation),
        escalation_reasons=tuple(escalation),
        locked=bool(lock),
        lock_reasons=tuple(lock),
        visit_every_months=pack.locking.visit_every_months if lock else None,
        manual_id=manual_id,
        overturned=voided,
        released=released,
    )
