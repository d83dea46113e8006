import pytest

from services.common.uscc import normalise_uscc


@pytest.mark.parametrize("code", ["91110000600037341L", "9144030071526726XG", "91310110666007217T"])
def test_real_codes_are_valid(code: str) -> None:
    assert normalise_uscc(code) == code


def test_lower_case_and_spaces_are_normalised() -> None:
    assert normalise_uscc(" 91110000600037341l ") == "91110000600037341L"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341N", "校验码错误"),
        ("9111000060003734", "长度应为18位"),
        ("91110000600037341I", "含有不允许的字符"),  # I is not in the alphabet
    ],
)
def test_invalid_codes_say_why_in_chinese(code: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_uscc(code)
