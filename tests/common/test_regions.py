import pytest

from services.common.regions import is_valid_region, level_of, lookup, prefix_of, within


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("140000", "山西省"),
        ("141100", "吕梁市"),
        ("141121", "文水县"),
        ("141122", "交城县"),
        ("310113", "宝山区"),
        ("320100", "南京市"),
        ("430000", "湖南省"),
        ("360100", "南昌市"),
    ],
)
def test_the_shipped_table_knows_the_seed_regions(code: str, name: str) -> None:
    region = lookup(code)
    assert region is not None and region.name == name
    assert is_valid_region(code)


@pytest.mark.parametrize("code", ["141199", "999999", "14112", "1411211", "abcdef", ""])
def test_unknown_or_malformed_codes_are_invalid(code: str) -> None:
    assert not is_valid_region(code)


def test_levels_and_prefixes() -> None:
    assert (level_of("140000"), prefix_of("140000")) == ("province", "14")
    assert (level_of("141100"), prefix_of("141100")) == ("city", "1411")
    assert (level_of("141121"), prefix_of("141121")) == ("county", "141121")
    assert level_of("141121001") == "station"


def test_an_upper_region_sees_everything_below_it_and_a_county_not_its_neighbour() -> None:
    assert within("140000", "141121") and within("141100", "141122")
    assert within("141121", "141121")
    assert not within("141122", "141121")
    assert not within("141100", "140100")
    assert not within("140000", "310113")
