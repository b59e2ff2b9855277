"""Phone numbers as the platform stores them: E.164, and only numbers that can receive a text.

Two readings exist because they have different costs. `to_e164` is the authority: it runs
phonenumbers and decides what a number *is*. `quick_e164` is what a 500-number status query can
afford per number: it reproduces phonenumbers' reading for the common, unambiguous spellings using
facts taken once from phonenumbers' metadata, and declines everything else. Callers look up the
quick candidate first and fall back to `to_e164` when it is not found, which is only sound because
of one invariant: when both readings give an answer, they give the same one. Every refusal in
`quick_e164` below exists to keep that invariant, not to judge the number.
"""

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, PhoneNumberType

_SMS_CAPABLE_TYPES = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PAGER,
        PhoneNumberType.PERSONAL_NUMBER,
    }
)

_COUNTRY_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_MAX_COUNTRY_CODE_DIGITS = 3
_MIN_E164_DIGITS = 6
_MAX_E164_DIGITS = 15
_SEPARATORS = str.maketrans("", "", " .-")

MAX_NUMBER_CHARS = 100
"""The longest text read as a phone number, surrounding whitespace aside; longer is not one.

E.164 caps a number at 15 digits. Written out, a real one adds at most an international prefix
with a carrier code instead of the `+` (Brazil's `0014`, Australia's `0011`: 4 digits), a
national prefix in parentheses (`+33 (0)6...`: 3 characters) and separators: 22 characters,
and with a three-character separator (` - `) between every two of them 22 + 21 x 3 = 85. 100
keeps every spelling a person or a program produces, with room for a `tel:` prefix; whitespace
around the number does not count (fixed-width database columns pad with it). Anything longer
is refused before it is parsed or cached (phonenumbers itself gives up at 250 characters).
"""


def is_too_long(raw: str) -> bool:
    """Whether `raw` is longer than any phone number (see `MAX_NUMBER_CHARS`): O(1) when it
    is not padded with whitespace."""
    return len(raw) > MAX_NUMBER_CHARS and len(raw.strip()) > MAX_NUMBER_CHARS


def to_e164(raw: str, region: str) -> str | None:
    """Return the E.164 form of `raw` if an SMS can be delivered to it, else None.

    `region` only matters for numbers written without an international prefix. Landlines and
    service numbers are refused here rather than by the operator so that a send fails before it
    is billed. Any text is accepted: a malformed number is an answer (None), not an error, and
    a text longer than any number (`MAX_NUMBER_CHARS`) is None without being parsed or kept.
    """
    if len(raw) > MAX_NUMBER_CHARS:
        raw = raw.strip()  # phonenumbers ignores surrounding whitespace: so does the bound
        if len(raw) > MAX_NUMBER_CHARS:
            return None
    return _to_e164(raw, region)


# Status queries are polled: a number that was not found, or is not valid, comes back in the
# next poll, and sends go to the same lists again. The key is at most MAX_NUMBER_CHARS
# characters and an account's region, so the cache holds at most about 12 MiB, reached when
# every entry is a 100-character text of 4-byte characters (tests/domain/test_phone.py).
@lru_cache(maxsize=16384)
def _to_e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None
    # number_type is UNKNOWN for an invalid number, so it is the validity check too (and
    # is_valid_number would repeat its work: a fifth of the cost of a status error).
    if phonenumbers.number_type(number) not in _SMS_CAPABLE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sms_e164(raw: str, region: str) -> str | None:
    """`to_e164` at a third of its cost for the common spellings: what sends use.

    A send of 500 new numbers spent half its time in `phonenumbers.parse` (28 µs a number).
    When `quick_e164` can read the number, the type is judged on the number built from
    its E.164 form, which is what `parse` would have built (tested to agree with
    `to_e164` over every region's example numbers, written every way people write them).
    """
    candidate = quick_e164(raw, region)
    if candidate is None:
        return to_e164(raw, region)
    return (
        candidate if phonenumbers.number_type(_from_e164(candidate)) in _SMS_CAPABLE_TYPES else None
    )


def _from_e164(e164: str) -> PhoneNumber:
    digits = e164[1:]
    code = _country_code_prefix(digits)
    if code is None:
        raise ValueError(f"not an E.164 number: {e164}")
    national = digits[len(code) :]
    zeros = len(national) - len(national.lstrip("0"))
    return PhoneNumber(
        country_code=int(code),
        national_number=int(national),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )


def quick_e164(raw: str, region: str) -> str | None:
    """Return the E.164 candidate phonenumbers would read in `raw`, or None when unsure.

    The candidate is not validated: a wrong-but-well-formed number simply finds nothing. None
    means "ask `to_e164`", never "invalid".
    """
    if len(raw) > MAX_NUMBER_CHARS:  # `to_e164` decides, without copying a hostile text
        return None
    compact = raw.translate(_SEPARATORS)
    if compact.startswith("+"):
        return _international(compact[1:])
    if not _is_ascii_digits(compact) or region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    if compact.startswith("00"):
        return _after_idd(compact, region)
    if compact.startswith("0"):
        return _national(compact, region)
    return None


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit alone would let through Arabic-Indic digits and superscripts.
    return text.isascii() and text.isdigit()


def _international(digits: str) -> str | None:
    """Read the digits after a `+` or an international prefix, as phonenumbers would."""
    if not _is_ascii_digits(digits) or digits.startswith("0"):
        return None
    country_code = _country_code_prefix(digits)
    # An unknown code makes phonenumbers retry the digits as a national number.
    if country_code is None:
        return None
    # phonenumbers strips a national prefix even after a country code (`+33 0 6...`), and may
    # rewrite what follows it.
    if not _keeps_national_number(digits[len(country_code) :], country_code):
        return None
    return _as_e164(digits)


def _country_code_prefix(digits: str) -> str | None:
    # Like phonenumbers, take the shortest known code; codes are prefix-free anyway.
    for size in range(1, _MAX_COUNTRY_CODE_DIGITS + 1):
        if digits[:size] in _COUNTRY_CODES:
            return digits[:size]
    return None


def _keeps_national_number(national: str, country_code: str) -> bool:
    """Whether phonenumbers leaves the digits after the country code as they are.

    This follows phonenumbers' own national prefix step; when that step would change the
    digits, the later length check might still undo it, and the caller declines either way.
    """
    rule = _national_prefix_rule(country_code)
    if rule is None:
        return True
    found = rule.pattern.match(national)
    if found is None:
        return True
    groups = found.groups()
    if rule.transform and groups and groups[-1] is not None:
        remainder = rule.pattern.sub(rule.transform, national, count=1)
    else:
        remainder = national[found.end() :]
    if remainder == national:
        return True
    # phonenumbers gives up the change when it would make a plausible number implausible.
    return (
        rule.plausible is not None
        and rule.plausible.fullmatch(national) is not None
        and rule.plausible.fullmatch(remainder) is None
    )


@dataclass(frozen=True, slots=True)
class _NationalPrefix:
    """How phonenumbers recognises a national prefix in numbers of one calling code."""

    pattern: re.Pattern[str]
    transform: str | None
    plausible: re.Pattern[str] | None


# This cache, `_international_prefix`'s and `_trunk`'s are keyed by phonenumbers' own calling
# codes and regions (`quick_e164` passes nothing else), a fixed set of about 250 keys: they
# cannot grow with input.
@cache
def _national_prefix_rule(country_code: str) -> _NationalPrefix | None:
    """Take the rule of the calling code's main region, as phonenumbers does for all regions
    sharing the code (`+262` is read with Réunion's rule, even for Mayotte)."""
    code = int(country_code)
    main_region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, main_region)
    if metadata is None or not metadata.national_prefix_for_parsing:
        return None
    plausible = _general_pattern(metadata)
    return _NationalPrefix(
        pattern=re.compile(metadata.national_prefix_for_parsing),
        transform=metadata.national_prefix_transform_rule,
        plausible=re.compile(plausible) if plausible is not None else None,
    )


def _after_idd(digits: str, region: str) -> str | None:
    """Read `00...` only where phonenumbers strips exactly `00` as the international prefix.

    Elsewhere `00` is not an international prefix (`011` in North America) or is followed by a
    carrier selection code (`0014` in Brazil) that phonenumbers strips as well.
    """
    idd = _international_prefix(region)
    found = idd.match(digits) if idd is not None else None
    if found is None or found.end() != len("00"):
        return None
    return _international(digits[2:])


@cache
def _international_prefix(region: str) -> re.Pattern[str] | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.international_prefix is None:
        return None
    return re.compile(metadata.international_prefix)


def _national(number: str, region: str) -> str | None:
    """Read `0` + national significant number in a region whose only national prefix is `0`."""
    trunk = _trunk(region)
    if trunk is None:
        return None
    # phonenumbers tries the international prefix first. No region on this path has one that
    # can start with `0` and another digit today; this keeps the reading right if one does.
    if trunk.international_prefix is not None and trunk.international_prefix.match(number):
        return None
    # phonenumbers keeps the `0` when dropping it would leave an implausible number or an
    # impossible length. What it keeps is invalid unless `0...` is itself a plausible number of
    # the calling code (Rwanda's `06...`), so that is the only case to decline.
    if any(pattern.fullmatch(number) for pattern in trunk.plausible_numbers):
        return None
    return _as_e164(trunk.country_code + number[1:])


def _as_e164(digits: str) -> str | None:
    if _MIN_E164_DIGITS <= len(digits) <= _MAX_E164_DIGITS:
        return "+" + digits
    return None


@dataclass(frozen=True, slots=True)
class _Trunk:
    """What reading a national number in one region needs, taken once from the metadata."""

    country_code: str
    international_prefix: re.Pattern[str] | None
    plausible_numbers: tuple[re.Pattern[str], ...]


@cache
def _trunk(region: str) -> _Trunk | None:
    """Facts for regions where a national number is exactly `0` + its significant number.

    Regions whose national prefix is anything else, or whose parsing rule also recognises
    carrier codes or rewrites digits (Argentina, Brazil, the United Kingdom...), return None.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if (
        metadata is None
        or metadata.country_code is None
        or metadata.national_prefix != "0"
        or metadata.national_prefix_for_parsing not in (None, "0")
        or metadata.national_prefix_transform_rule
    ):
        return None
    siblings = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[metadata.country_code]
    return _Trunk(
        country_code=str(metadata.country_code),
        international_prefix=_international_prefix(region),
        plausible_numbers=tuple(
            re.compile(pattern)
            for sibling in siblings
            if (pattern := _general_pattern(PhoneMetadata.metadata_for_region(sibling))) is not None
        ),
    )


def _general_pattern(metadata: PhoneMetadata | None) -> str | None:
    if metadata is None or metadata.general_desc is None:
        return None
    return metadata.general_desc.national_number_pattern


def region_of(e164: str) -> str:
    """The region (ISO code) an E.164 number belongs to: what it is priced and shown as.

    Most country codes serve one region (+33 is FR alone), which the code itself answers;
    shared ones (+1, +44, +262) need the number's own metadata, hence the full parse. A text
    longer than an E.164 number belongs to no region ("") and is not kept.
    """
    if len(e164) > 1 + _MAX_E164_DIGITS:
        return ""
    return _region_of(e164)


# Keys are at most 16 characters: 16384 of them hold about 3 MiB.
@lru_cache(maxsize=16384)
def _region_of(e164: str) -> str:
    code = _country_code_prefix(e164[1:])
    if code is not None:
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)]
        if len(regions) == 1:
            return regions[0]
    try:
        number = phonenumbers.parse(e164)
    except NumberParseException:
        return ""
    return phonenumbers.region_code_for_number(number) or ""
