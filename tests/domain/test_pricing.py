"""Specification of the price table: defaults, fallback, and the price file's checks."""

from pathlib import Path

import phonenumbers
import pytest

from smsrelay.domain.pricing import DEFAULT_PRICE_TABLE, PriceTable, RegionPrices

OVERSEAS = ["GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"]


def table(**prices: object) -> PriceTable:
    return PriceTable.from_mapping({"prices": prices})


def test_default_prices_metropolitan_france_in_both_ranges() -> None:
    assert DEFAULT_PRICE_TABLE.price("FR", "premium") == 38
    assert DEFAULT_PRICE_TABLE.price("FR", "low_cost") == 30


@pytest.mark.parametrize("region", OVERSEAS)
def test_default_overseas_region_has_premium_but_no_low_cost(region: str) -> None:
    assert DEFAULT_PRICE_TABLE.price(region, "premium") == 90
    assert DEFAULT_PRICE_TABLE.price(region, "low_cost") is None


def test_default_table_has_no_fallback_so_an_unpriced_region_is_refused() -> None:
    assert DEFAULT_PRICE_TABLE.price("JP", "premium") is None


def test_default_regions_are_all_known_to_phonenumbers() -> None:
    assert set(DEFAULT_PRICE_TABLE.regions) <= phonenumbers.SUPPORTED_REGIONS


def test_unknown_region_has_no_price() -> None:
    assert table(FR={"premium": 0.038}).price("BE", "premium") is None


def test_fallback_entry_prices_unlisted_regions() -> None:
    prices = table(FR={"premium": 0.038}, **{"*": {"premium": 0.1, "low_cost": 0.09}})
    assert prices.price("JP", "premium") == 100
    assert prices.price("JP", "low_cost") == 90


def test_listed_region_without_low_cost_does_not_take_the_fallbacks() -> None:
    prices = table(BE={"premium": 0.075}, **{"*": {"premium": 0.1, "low_cost": 0.09}})
    assert prices.price("BE", "low_cost") is None


def test_toml_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'currency = "EUR"\n'
        "[prices.FR]\npremium = 0.038\nlow_cost = 0.030\n"
        '[prices."*"]\npremium = 0.100\n'
    )
    assert PriceTable.from_toml(path) == PriceTable(
        {"FR": RegionPrices(premium=38, low_cost=30), "*": RegionPrices(premium=100)}
    )


def test_file_replaces_the_built_in_table_entirely() -> None:
    assert table(BE={"premium": 0.075}).price("FR", "premium") is None


@pytest.mark.parametrize(("amount", "thousandths"), [(0.038, 38), (0.1, 100), (1, 1000)])
def test_amounts_convert_exactly_to_thousandths(amount: float, thousandths: int) -> None:
    assert table(FR={"premium": amount}).price("FR", "premium") == thousandths


def test_table_cannot_be_changed_after_it_is_built() -> None:
    source = {"FR": RegionPrices(premium=38)}
    prices = PriceTable(source)
    source["FR"] = RegionPrices(premium=1)
    assert prices.price("FR", "premium") == 38
    with pytest.raises(TypeError):
        prices.regions["FR"] = RegionPrices(premium=1)  # type: ignore[index]


def test_more_than_three_decimals_are_refused() -> None:
    with pytest.raises(ValueError, match=r"prices\.FR.*low_cost.*3 decimals"):
        table(FR={"premium": 0.038, "low_cost": 0.0385})


def test_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError, match=r"prices\.FR.*premium.*not a price"):
        table(FR={"premium": -0.038})


@pytest.mark.parametrize("amount", [float("inf"), float("nan")])
def test_infinite_or_nan_amount_is_refused(amount: float) -> None:
    with pytest.raises(ValueError, match=r"prices\.FR.*premium.*not a price"):
        table(FR={"premium": amount})


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match=r"prices\.FR.*unknown fields standard"):
        table(FR={"premium": 0.038, "standard": 0.030})


def test_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown keys.*: price$"):
        PriceTable.from_mapping({"price": {}, "prices": {"FR": {"premium": 0.038}}})


def test_region_code_unknown_to_phonenumbers_is_refused() -> None:
    with pytest.raises(ValueError, match=r"prices\.UK.*not a region code"):
        table(UK={"premium": 0.045})


@pytest.mark.parametrize("amount", ["0.038", True, [0.038]])
def test_amount_that_is_not_a_number_is_refused(amount: object) -> None:
    with pytest.raises(ValueError, match=r"prices\.FR.*premium.*not a number"):
        table(FR={"premium": amount})


def test_region_without_premium_is_refused() -> None:
    with pytest.raises(ValueError, match=r"prices\.FR.*premium is required"):
        table(FR={"low_cost": 0.030})


def test_file_without_prices_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no \[prices"):
        PriceTable.from_mapping({"currency": "EUR"})


def test_unreadable_file_is_a_value_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ValueError, match=r"missing\.toml"):
        PriceTable.from_toml(path)
