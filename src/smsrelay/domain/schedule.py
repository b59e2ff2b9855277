"""When a send leaves: the schedule a client asks for, and the quiet hours of marketing sends.

Both are pure functions of their arguments. The caller passes the account's time zone and the
current time, so the rules are tested against fixed clocks and never read the real one. Every
datetime returned is aware and in UTC, the form the store keeps; wall times only exist here.

Reading a schedule (`read_schedule`), decisions taken where the contract is silent:

- A parameter is absent when it is None or an empty (or blank) string; surrounding spaces are
  ignored. Nothing scheduled (all three absent) is an immediate send: None.
- The date is `dd/MM/yyyy`; one-digit day and month (`5/12/2026`) are accepted too. Anything
  else, a day that does not exist (`31/02/2026`) or a day more than 365 days after today's date
  in the account's zone is refused with 46. The limit is on calendar days, not on the instant:
  the last allowed day can be scheduled at any time of that day.
- Hour and minute are integers, sent as JSON numbers or as strings of one or two ASCII digits
  (`8`, `"8"` and `"08"` are the same). JSON booleans and floats, even `8.0`, are refused: the
  contract's values are integers, and guessing at `8.5` would send at a time nobody asked for.
- A missing minute with a given hour means minute 0 (the forgiving reading of "with time and
  minute"). A missing hour with a given date is refused with 47, even when the minute is given.
- Refusals are checked in code order and the first one wins: 45, 46, 47, 48, then 49.
- A scheduled moment equal to `now` is accepted; one before it is refused with 49. A day two
  days or more before today in the account's zone is refused with 49 without being converted
  (no zone ever set its clocks back by two days, so any time of it is past): converting it
  could leave the calendar (01/01/0001 at 00:00 in Paris, whose offset was then +00:09, is in
  year 0 in UTC), and only days from the day before yesterday to a year ahead are ever converted.
- A wall time that does not exist because the clocks spring forward (29/03/2026 02:30 in Paris)
  is read with the offset in force before the change, so it lands as far after the gap starts
  as it was meant to (03:30 CEST). A wall time that happens twice because the clocks fall back
  (25/10/2026 02:30 in Paris) is read as its first occurrence (summer time). Both are zoneinfo's
  `fold=0`, so the reading never depends on anything but the input.

Quiet hours (`hold_until`), for marketing accounts only; the caller decides which sends they
apply to. A marketing send may leave from 08:00 (included) to 20:00 (excluded), local time of
the account, on a day that is neither a Sunday nor a public holiday of metropolitan France. A
send outside those hours is held until 08:00 of the next allowed day, skipping as many Sundays
and holidays in a row as there are (a Saturday evening goes to Monday, or to Tuesday when Monday
is Easter Monday).
"""

import datetime as dt
import re
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays

from smsrelay.domain.problems import Problem, Refused

_DATE: Final = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_SMALL_INTEGER: Final = re.compile(r"[0-9]{1,2}")
_HORIZON: Final = dt.timedelta(days=365)
_SURELY_PAST: Final = dt.timedelta(days=2)
_MINUTES: Final = frozenset(range(0, 60, 5))
_LAST_HOUR: Final = 23
_OPENS: Final = dt.time(8)
_CLOSES: Final = dt.time(20)
_SUNDAY: Final = 6
_ONE_DAY: Final = dt.timedelta(days=1)


def read_schedule(
    date: object, hour: object, minute: object, zone: ZoneInfo, now: dt.datetime
) -> dt.datetime | None:
    """Return the UTC moment a send is scheduled for, or None when it is not scheduled.

    `date`, `hour` and `minute` are the send's `scheduledDeliveryDate`, `time` and `minute` as
    the client sent them; they are wall-clock values in `zone`, the account's zone. A missing
    minute with a given hour means minute 0. Raises `Refused` with codes 45 to 49 (see the
    module docstring for every decision); a naive `now` is a programming error (ValueError).
    """
    _require_aware(now)
    date, hour, minute = _given(date), _given(hour), _given(minute)
    if date is None:
        if hour is None and minute is None:
            return None
        raise Refused(Problem.DATE_MISSING)
    day = _read_day(date)
    today = now.astimezone(zone).date()
    if day is None or day - today > _HORIZON:
        raise Refused(Problem.DATE_INVALID)
    hours = _read_small_integer(hour)
    if hours is None or not 0 <= hours <= _LAST_HOUR:
        raise Refused(Problem.TIME_INVALID)
    minutes = 0 if minute is None else _read_small_integer(minute)
    if minutes not in _MINUTES:
        raise Refused(Problem.MINUTE_INVALID)
    if today - day >= _SURELY_PAST:
        raise Refused(Problem.DATE_PAST)
    # fold=0, the default: a wall time in a spring-forward gap is read forward, and one that
    # happens twice in autumn is read as its first occurrence.
    wall = dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=zone)
    moment = wall.astimezone(dt.UTC)
    if moment < now:
        raise Refused(Problem.DATE_PAST)
    return moment


def hold_until(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """Return the UTC moment a marketing send at `moment` must wait for, or None if it may go.

    `moment` is when the send would leave (now, or its schedule); `zone` is the account's. The
    result is 08:00 local time of the first day on or after the send's that is neither a Sunday
    nor a French public holiday, and is later than `moment`.
    """
    _require_aware(moment)
    local = moment.astimezone(zone)
    if _OPENS <= local.time() < _CLOSES and _is_open(local.date()):
        return None
    day = local.date() if local.time() < _OPENS else local.date() + _ONE_DAY
    while not _is_open(day):
        day += _ONE_DAY
    return dt.datetime.combine(day, _OPENS, tzinfo=zone).astimezone(dt.UTC)


def _require_aware(moment: dt.datetime) -> None:
    # A naive datetime would be read in the server's own zone, silently: refuse it instead.
    if moment.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got {moment!r}")


def _given(value: object) -> object:
    """The value as sent, with None for an absent one (None, or a blank string from a form)."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _read_day(value: object) -> dt.date | None:
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    day, month, year = (int(group) for group in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _read_small_integer(value: object) -> int | None:
    # bool is an int in Python, but `true` is not an hour in JSON.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _SMALL_INTEGER.fullmatch(value):
        return int(value)
    return None


def _is_open(day: dt.date) -> bool:
    return day.weekday() != _SUNDAY and day not in _french_holidays(day.year)


# Building a year's calendar computes Easter and friends; a send only ever looks at this year
# and the next, so a few years are kept. "FR" with no subdivision is metropolitan France
# (Alsace-Moselle's two extra days are a subdivision); country_holidays is the typed way in.
@lru_cache(maxsize=4)
def _french_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("FR", years=year))


def local_text(moment: dt.datetime, zone: ZoneInfo) -> str:
    """`YYYY-MM-DD HH:MM:SS` in `zone`: how the contract shows a date meant for people."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
