from datetime import date, timedelta

from services.grading.classes import Signal, decide_class

TODAY = date(2026, 11, 23)


def failed(n: int, days_ago: int) -> Signal:
    return Signal(id=f"e{n}", kind="spot_check_failed", occurred_on=TODAY - timedelta(days=days_ago))


def test_no_signal_is_routine() -> None:
    decision = decide_class([], today=TODAY)
    assert decision.supervision_class == "routine" and decision.evidence == []


def test_one_failure_is_key_with_the_failure_as_evidence() -> None:
    decision = decide_class([failed(1, 3)], today=TODAY)
    assert decision.supervision_class == "key"
    assert decision.evidence == ["e1"]
    assert "重点监管" in decision.text


def test_three_failures_within_730_days_is_special() -> None:
    decision = decide_class([failed(1, 729), failed(2, 100), failed(3, 1)], today=TODAY)
    assert decision.supervision_class == "special"
    assert decision.evidence == ["e1", "e2", "e3"]
    assert "特别监管" in decision.text


def test_a_failure_730_days_old_no_longer_counts() -> None:
    assert (
        decide_class([failed(1, 730), failed(2, 100), failed(3, 1)], today=TODAY).supervision_class == "key"
    )
    assert decide_class([failed(1, 800)], today=TODAY).supervision_class == "routine"


def test_the_order_of_arrival_does_not_matter() -> None:
    signals = [failed(3, 1), failed(1, 700), failed(2, 5)]
    assert decide_class(signals, today=TODAY) == decide_class(list(reversed(signals)), today=TODAY)
