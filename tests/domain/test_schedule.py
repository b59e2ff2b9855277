"""Specification of scheduled sends (v1 `/send`, codes 45 to 49) and marketing quiet hours."""

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.domain.problems import Problem, Refused
from smsrelay.domain.schedule import hold_until, read_schedule
from tests.properties import PROPERTIES

PARIS = ZoneInfo("Europe/Paris")
# A Tuesday morning in winter time (UTC+1).
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def refusal(date: object, hour: object, minute: object, now: datetime = NOW) -> Problem:
    with pytest.raises(Refused) as caught:
        read_schedule(date, hour, minute, PARIS, now)
    return caught.value.problem


# --- read_schedule: what is accepted -------------------------------------------------------


@pytest.mark.parametrize("absent", [None, ""])
def test_nothing_scheduled_is_an_immediate_send(absent: object) -> None:
    assert read_schedule(absent, absent, absent, PARIS, NOW) is None


def test_the_schedule_is_a_paris_wall_time_returned_in_utc() -> None:
    moment = read_schedule("05/12/2026", "8", "30", PARIS, NOW)
    assert moment == utc(2026, 12, 5, 7, 30)
    assert moment is not None
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("date", "day"),
    [
        ("05/12/2026", paris(2026, 12, 5, 8)),
        ("5/12/2026", paris(2026, 12, 5, 8)),
        ("5/1/2027", paris(2027, 1, 5, 8)),
    ],
)
def test_one_digit_day_and_month_are_accepted(date: str, day: datetime) -> None:
    assert read_schedule(date, 8, 0, PARIS, NOW) == day


def test_spaces_around_a_form_value_are_ignored() -> None:
    assert read_schedule(" 05/12/2026 ", " 8 ", " 0 ", PARIS, NOW) == paris(2026, 12, 5, 8)


@pytest.mark.parametrize("hour", ["8", 8, "08"])
def test_the_hour_is_a_number_or_a_string_of_digits(hour: object) -> None:
    assert read_schedule("05/12/2026", hour, 0, PARIS, NOW) == paris(2026, 12, 5, 8)


@pytest.mark.parametrize("minute", ["5", 5, "05"])
def test_the_minute_is_a_number_or_a_string_of_digits(minute: object) -> None:
    assert read_schedule("05/12/2026", 8, minute, PARIS, NOW) == paris(2026, 12, 5, 8, 5)


@pytest.mark.parametrize("minute", [None, ""])
def test_a_missing_minute_with_an_hour_is_minute_zero(minute: object) -> None:
    assert read_schedule("05/12/2026", 8, minute, PARIS, NOW) == paris(2026, 12, 5, 8)


def test_the_wall_time_is_read_in_the_accounts_zone() -> None:
    reunion = ZoneInfo("Indian/Reunion")  # UTC+4, no daylight saving
    assert read_schedule("05/12/2026", 8, 0, reunion, NOW) == utc(2026, 12, 5, 4)


def test_the_day_365_days_ahead_is_accepted_at_any_time() -> None:
    assert read_schedule("10/03/2027", 23, 55, PARIS, NOW) == paris(2027, 3, 10, 23, 55)


def test_now_itself_is_not_past() -> None:
    assert read_schedule("10/03/2026", 10, 0, PARIS, NOW) == NOW


def test_a_wall_time_in_the_spring_forward_gap_is_read_forward() -> None:
    # 02:30 does not exist on 29/03/2026 in Paris: read with the winter offset, it is 03:30 CEST.
    assert read_schedule("29/03/2026", 2, 30, PARIS, NOW) == utc(2026, 3, 29, 1, 30)


def test_a_wall_time_that_happens_twice_is_its_first_occurrence() -> None:
    # 02:30 happens twice on 25/10/2026 in Paris: the first one, still in summer time (UTC+2).
    assert read_schedule("25/10/2026", 2, 30, PARIS, NOW) == utc(2026, 10, 25, 0, 30)


# --- read_schedule: every refusal ----------------------------------------------------------


@pytest.mark.parametrize(("hour", "minute"), [(8, None), (None, 30), ("8", "30")])
def test_time_or_minute_without_a_date_is_45(hour: object, minute: object) -> None:
    assert refusal(None, hour, minute) is Problem.DATE_MISSING


@pytest.mark.parametrize(
    "date", ["2026-12-05", "05-12-2026", "05/12/26", "05/12/2026 08:00", "x", 5122026, "٠٥/١٢/٢٠٢٦"]
)
def test_a_date_not_written_dd_mm_yyyy_is_46(date: object) -> None:
    assert refusal(date, 8, 0) is Problem.DATE_INVALID


@pytest.mark.parametrize("date", ["31/02/2026", "29/02/2027", "32/01/2027", "15/13/2026"])
def test_a_day_that_does_not_exist_is_46(date: str) -> None:
    assert refusal(date, 8, 0) is Problem.DATE_INVALID


def test_a_day_more_than_365_days_ahead_is_46() -> None:
    assert refusal("11/03/2027", 0, 0) is Problem.DATE_INVALID


@pytest.mark.parametrize("hour", [None, "", 24, -1, "24", 8.5, 8.0, "x", "8h", "+8", True])
def test_a_missing_or_invalid_hour_with_a_date_is_47(hour: object) -> None:
    assert refusal("05/12/2026", hour, 0) is Problem.TIME_INVALID


@pytest.mark.parametrize("minute", [7, 60, -5, "7", "x", 5.0, True, False])
def test_a_minute_not_a_multiple_of_5_from_0_to_55_is_48(minute: object) -> None:
    assert refusal("05/12/2026", 8, minute) is Problem.MINUTE_INVALID


def test_a_moment_before_now_is_49() -> None:
    assert refusal("10/03/2026", 9, 55) is Problem.DATE_PAST


def test_the_first_refusal_in_code_order_wins() -> None:
    assert refusal("09/03/2026", 24, 7) is Problem.TIME_INVALID


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        read_schedule("05/12/2026", 8, 0, PARIS, datetime(2026, 3, 10, 10))


# --- hold_until: marketing quiet hours ------------------------------------------------------


@pytest.mark.parametrize("moment", [paris(2026, 3, 10, 8), paris(2026, 3, 10, 14), NOW])
def test_a_weekday_daytime_send_is_not_held(moment: datetime) -> None:
    assert hold_until(moment, PARIS) is None


def test_19_59_is_not_held() -> None:
    assert hold_until(paris(2026, 3, 10, 19, 59), PARIS) is None


def test_20_00_is_held_until_08_00_the_next_day() -> None:
    until = hold_until(paris(2026, 3, 10, 20), PARIS)
    assert until == paris(2026, 3, 11, 8)
    assert until is not None
    assert until.tzinfo is UTC


def test_07_59_is_held_until_08_00_the_same_day() -> None:
    assert hold_until(paris(2026, 3, 10, 7, 59), PARIS) == paris(2026, 3, 10, 8)


def test_saturday_evening_is_held_until_monday() -> None:
    assert hold_until(paris(2026, 3, 14, 21), PARIS) == paris(2026, 3, 16, 8)


def test_sunday_noon_is_held_until_monday() -> None:
    assert hold_until(paris(2026, 3, 15, 12), PARIS) == paris(2026, 3, 16, 8)


def test_a_fixed_holiday_is_held_until_the_next_day() -> None:
    # 14 July 2026 is a Tuesday.
    assert hold_until(paris(2026, 7, 14, 10), PARIS) == paris(2026, 7, 15, 8)


def test_1_may_is_a_holiday() -> None:
    # 1 May 2026 is a Friday.
    assert hold_until(paris(2026, 5, 1, 10), PARIS) == paris(2026, 5, 2, 8)


def test_easter_monday_a_movable_holiday_is_skipped() -> None:
    # Easter 2026 is 5 April: Saturday evening skips Sunday and Easter Monday.
    assert hold_until(paris(2026, 4, 4, 21), PARIS) == paris(2026, 4, 7, 8)


def test_christmas_eve_evening_is_held_until_26_december() -> None:
    assert hold_until(paris(2026, 12, 24, 21), PARIS) == paris(2026, 12, 26, 8)


def test_a_holiday_before_a_sunday_keeps_the_send_moving() -> None:
    # 15 August 2026 is a Saturday: Friday evening waits for Monday.
    assert hold_until(paris(2026, 8, 14, 21), PARIS) == paris(2026, 8, 17, 8)


def test_a_hold_across_the_spring_change_leaves_at_08_00_summer_time() -> None:
    # Saturday 21:00 CET (UTC+1); Monday 08:00 CEST (UTC+2), after the night of 29 March.
    assert hold_until(paris(2026, 3, 28, 21), PARIS) == utc(2026, 3, 30, 6)


def test_a_hold_across_the_autumn_change_leaves_at_08_00_winter_time() -> None:
    assert hold_until(paris(2026, 10, 24, 21), PARIS) == utc(2026, 10, 26, 7)


def test_the_moment_is_judged_in_the_accounts_zone() -> None:
    # 19:30 UTC on a summer Tuesday is 21:30 in Paris.
    assert hold_until(utc(2026, 6, 9, 19, 30), PARIS) == paris(2026, 6, 10, 8)


def test_a_naive_moment_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        hold_until(datetime(2026, 3, 10, 21), PARIS)


# --- any input: an answer or a coded refusal ------------------------------------------------

ZONES = sorted(zoneinfo.available_timezones())
DAYS = st.dates() | st.sampled_from([date.min, date.min + timedelta(days=1), date.max])


def test_the_first_day_of_the_calendar_is_past_not_out_of_range() -> None:
    # At 00:00 on 01/01/0001 Paris was 9 minutes ahead of UTC: year 0 there, which no
    # datetime can hold. The day is refused as past before anything converts it.
    assert refusal("01/01/0001", 0, 0) is Problem.DATE_PAST


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT-14", "America/Sitka"])
def test_the_day_before_yesterday_is_past_in_zones_far_from_utc(zone: str) -> None:
    with pytest.raises(Refused) as caught:
        read_schedule("08/03/2026", 23, 55, ZoneInfo(zone), NOW)
    assert caught.value.problem is Problem.DATE_PAST


def test_the_edges_of_the_calendar_get_coded_refusals_in_every_zone() -> None:
    edges = [date.min, date.min + timedelta(days=1), date.max - timedelta(days=1), date.max]
    problems = set()
    for zone in map(ZoneInfo, ZONES):
        for day in edges:
            written = f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
            for hour, minute in [(0, 0), (23, 55)]:
                with pytest.raises(Refused) as caught:
                    read_schedule(written, hour, minute, zone, NOW)
                problems.add(caught.value.problem)
    assert problems == {Problem.DATE_PAST, Problem.DATE_INVALID}


@PROPERTIES
@given(
    day=DAYS,
    hour=st.integers(-1, 24) | st.sampled_from(["0", "23", None]),
    minute=st.sampled_from([None, 0, 5, 55, 7]),
    zone=st.sampled_from(ZONES),
    now=st.datetimes(datetime(1970, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)),
)
def test_any_day_in_any_zone_is_a_moment_or_a_coded_refusal(
    day: date, hour: object, minute: object, zone: str, now: datetime
) -> None:
    written = f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
    outcome: datetime | Problem | None
    try:
        outcome = read_schedule(written, hour, minute, ZoneInfo(zone), now)
    except Refused as refused:
        outcome = refused.problem
    if isinstance(outcome, Problem):
        assert 45 <= outcome.code <= 49
    else:
        assert outcome is not None
        assert now <= outcome <= now + timedelta(days=367)


@PROPERTIES
@given(
    moment=st.datetimes(datetime(1970, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
)
def test_any_moment_in_any_zone_is_held_to_a_later_moment_or_not_at_all(
    moment: datetime, zone: str
) -> None:
    until = hold_until(moment, ZoneInfo(zone))
    assert until is None or until > moment
