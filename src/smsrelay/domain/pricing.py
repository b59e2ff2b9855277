"""What one SMS part costs, per destination region and range (`gamme`).

A send names a range: premium (`gamme` 1, the default) or low cost (`gamme` 2). The price
depends on it and on the region the number belongs to. When there is no price, the send is
refused for that number with code 13 ("no price for these numbers") rather than billed at a
guess, which is what a real platform does for a destination it has no route to.

Amounts are integer thousandths of the currency (0.038 EUR is 38), as everywhere in the
project, so that sums of many parts are exact.

`DEFAULT_PRICE_TABLE` holds placeholder prices, in thousandths of EUR, so that a fresh
install can send: metropolitan France (FR, premium 38, low cost 30), the overseas
departments and collectivities with their own region codes (GP, MQ, GF, RE, YT, PM, BL, MF,
premium 90) and a few common destinations, premium only. They are not anyone's tariff: an
operator replaces them with a file, which takes the place of the whole built-in table (it is
not merged with it, so a region left out of the file has no price). The file is TOML,
amounts in currency units with at most three decimals::

    currency = "EUR"           # optional, informational: the platform answers `currency`
                               # from the settings
    [prices.FR]
    premium = 0.038
    low_cost = 0.030           # optional: without it, low cost is not offered there
    [prices."*"]               # optional: the price of every region not listed
    premium = 0.100

A listed region is priced by its own entry only: a region without `low_cost` has no low
cost price even when the `"*"` entry has one.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

import phonenumbers

Range = Literal["premium", "low_cost"]

FALLBACK: Final = "*"

_RANGES: Final[tuple[Range, ...]] = ("premium", "low_cost")
_TOP_LEVEL_KEYS: Final = frozenset({"currency", "prices"})


def money(thousandths: int) -> float:
    """An amount as the contract's JSON numbers show it (`cost`)."""
    return thousandths / 1000


def money_text(thousandths: int) -> str:
    """An amount with its three decimals, as the contract shows balances (`solde`)."""
    return f"{thousandths / 1000:.3f}"


@dataclass(frozen=True, slots=True)
class RegionPrices:
    """The price of one part in each range of one region; None: the range is not offered."""

    premium: int
    low_cost: int | None = None


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices per region code ("FR", "MA"...), with an optional `FALLBACK` entry.

    Built from trusted values; a file or other outside data goes through `from_mapping`,
    which checks it. The mapping is copied, so the table cannot change after it is built.
    """

    regions: Mapping[str, RegionPrices]

    def __post_init__(self) -> None:
        object.__setattr__(self, "regions", MappingProxyType(dict(self.regions)))

    def price(self, region: str, range_: Range) -> int | None:
        """Thousandths per part to `region` in `range_`, or None when it cannot be sold."""
        prices = self.regions.get(region, self.regions.get(FALLBACK))
        if prices is None:
            return None
        return prices.premium if range_ == "premium" else prices.low_cost

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> PriceTable:
        """Read a price file; ValueError says what is wrong with it, unreadable included."""
        try:
            with open(path, "rb") as file:
                data = tomllib.load(file)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read price file {os.fsdecode(path)}: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PriceTable:
        """Check and convert the content of a price file (see the module docstring)."""
        unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
        if unknown:
            raise ValueError(f"unknown keys in the price file: {', '.join(unknown)}")
        if not isinstance(data.get("currency", ""), str):
            raise ValueError("currency must be a string")
        prices = data.get("prices")
        if not isinstance(prices, Mapping) or not prices:
            raise ValueError("the price file has no [prices.<region>] table")
        return cls({region: _region_prices(region, entry) for region, entry in prices.items()})


def _region_prices(region: str, entry: object) -> RegionPrices:
    where = f"[prices.{region}]"
    if region != FALLBACK and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{where}: {region!r} is not a region code known to phonenumbers")
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be a table with premium and low_cost")
    unknown = sorted(set(entry) - set(_RANGES))
    if unknown:
        raise ValueError(
            f"{where}: unknown fields {', '.join(unknown)} (expected premium, low_cost)"
        )
    if "premium" not in entry:
        raise ValueError(f"{where}: premium is required")
    return RegionPrices(
        premium=_thousandths(where, "premium", entry["premium"]),
        low_cost=_thousandths(where, "low_cost", entry["low_cost"])
        if "low_cost" in entry
        else None,
    )


def _thousandths(where: str, name: str, amount: object) -> int:
    """Convert an amount in currency units exactly, or refuse it.

    Through `str`, because a float holds the binary neighbour of the decimal written in the
    file (0.038 is 0.0379999...) while `repr` gives back the shortest decimal that reads as
    it, that is the one written: multiplying the float would risk 37 instead of 38.
    """
    # bool is an int to Python, and `premium = true` is surely a mistake.
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValueError(f"{where}: {name} = {amount!r} is not a number")
    exact = Decimal(str(amount))
    if not exact.is_finite() or exact < 0:
        raise ValueError(f"{where}: {name} = {amount!r} is not a price")
    scaled = exact.scaleb(3)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{where}: {name} = {amount!r} has more than 3 decimals")
    return int(scaled)


_OVERSEAS: Final = ("GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF")
_ABROAD: Final = {
    "BE": 75,
    "CH": 80,
    "LU": 70,
    "MC": 60,
    "DE": 85,
    "ES": 70,
    "IT": 75,
    "PT": 60,
    "GB": 45,
    "NL": 90,
    "MA": 85,
    "TN": 95,
    "DZ": 110,
    "SN": 100,
    "CI": 105,
    "US": 40,
    "CA": 40,
}

DEFAULT_PRICE_TABLE: Final = PriceTable(
    {
        "FR": RegionPrices(premium=38, low_cost=30),
        **{region: RegionPrices(premium=90) for region in _OVERSEAS},
        **{region: RegionPrices(premium=price) for region, price in _ABROAD.items()},
    }
)
