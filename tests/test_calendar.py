"""Working days (China's holidays and 调休 make-up days) and office hours."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import CalendarSettings
from models import calendar as calendar_module
from models.calendar import WorkCalendar, calendar_from_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int, minute: int = 0, tz: timezone | ZoneInfo = SHANGHAI) -> datetime:
    """An aware moment on ``day``."""
    return datetime.combine(day, time(hour, minute), tz)


@pytest.fixture
def cal() -> WorkCalendar:
    """The default calendar: no overrides, 09:00–18:00."""
    return WorkCalendar()


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget which unknown years were already announced and the cached base answers."""
    monkeypatch.setattr(calendar_module, "_warned_years", set())
    calendar_module._base_is_workday.cache_clear()
    yield
    calendar_module._base_is_workday.cache_clear()


# -- working days ------------------------------------------------------------------------------


def test_national_day_2026_is_off_and_make_up_saturday_is_on(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2026, 9, 30))
    for offset in range(7):
        assert not cal.is_workday(date(2026, 10, 1) + timedelta(days=offset))
    assert cal.is_workday(date(2026, 10, 8))
    assert cal.is_workday(date(2026, 10, 9))
    assert date(2026, 10, 10).weekday() == 5
    assert cal.is_workday(date(2026, 10, 10))  # 调休 Saturday
    assert not cal.is_workday(date(2026, 10, 11))
    # the Sunday before the Mid-Autumn holiday (9-25..27) is a make-up day too
    assert cal.is_workday(date(2026, 9, 20))


def test_spring_festival_2026_is_off_with_two_make_up_saturdays(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2026, 2, 13))
    assert cal.is_workday(date(2026, 2, 14))  # Saturday, 调休
    for offset in range(9):  # 2-15 (Sun) .. 2-23 (Mon)
        assert not cal.is_workday(date(2026, 2, 15) + timedelta(days=offset))
    assert cal.is_workday(date(2026, 2, 24))
    assert cal.is_workday(date(2026, 2, 28))  # Saturday, 调休
    assert not cal.is_workday(date(2026, 3, 1))


def test_ordinary_weekend_is_off(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2026, 3, 6))  # Friday
    assert not cal.is_workday(date(2026, 3, 7))
    assert not cal.is_workday(date(2026, 3, 8))
    assert cal.is_workday(date(2026, 3, 9))  # Monday


def test_config_holiday_override_wins_over_chinese_calendar() -> None:
    cal = WorkCalendar(holidays=[date(2026, 3, 9), date(2026, 10, 10)])
    assert not cal.is_workday(date(2026, 3, 9))  # an ordinary Monday
    assert not cal.is_workday(date(2026, 10, 10))  # a 调休 Saturday
    assert cal.is_workday(date(2026, 3, 10))


def test_config_workday_override_wins_over_chinese_calendar() -> None:
    cal = WorkCalendar(workdays=[date(2026, 3, 8), date(2026, 10, 2)])
    assert cal.is_workday(date(2026, 3, 8))  # an ordinary Sunday
    assert cal.is_workday(date(2026, 10, 2))  # National Day
    assert not cal.is_workday(date(2026, 10, 3))


def test_a_date_in_both_overrides_is_rejected() -> None:
    with pytest.raises(ValueError, match="2026-03-09"):
        WorkCalendar(holidays=[date(2026, 3, 9)], workdays=[date(2026, 3, 9)])


def test_knows_the_years_chinese_calendar_covers(cal: WorkCalendar) -> None:
    assert cal.knows(2026)
    assert cal.knows(2004)
    assert not cal.knows(2003)
    assert not cal.knows(2099)


def test_unknown_year_falls_back_to_monday_to_friday_with_one_warning(
    fresh_warnings: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="models.calendar")
    cal = WorkCalendar()
    assert cal.is_workday(date(2099, 1, 1))  # Thursday; no holiday data → working day
    assert cal.is_workday(date(2099, 1, 2))  # Friday
    assert not cal.is_workday(date(2099, 1, 3))  # Saturday
    assert not cal.is_workday(date(2099, 1, 4))  # Sunday
    other = WorkCalendar()
    for offset in range(400):
        day = date(2099, 1, 1) + timedelta(days=offset)
        assert cal.is_workday(day) == (day.weekday() < 5)
        assert other.is_workday(day) == (day.weekday() < 5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    about_2099 = [m for m in warnings if "for 2099" in m]
    assert len(about_2099) == 1
    assert "[calendar] holidays / workdays" in about_2099[0]
    # the loop reached 2100, another unknown year: it gets its own single warning
    assert len([m for m in warnings if "for 2100" in m]) == 1


def test_unknown_year_uses_config_overrides(fresh_warnings: None) -> None:
    cal = WorkCalendar(holidays=[date(2099, 1, 1)], workdays=[date(2099, 1, 3)])
    assert not cal.is_workday(date(2099, 1, 1))
    assert cal.is_workday(date(2099, 1, 3))


def test_is_workday_accepts_a_datetime(cal: WorkCalendar) -> None:
    assert not cal.is_workday(at(date(2026, 10, 1), 10))
    assert cal.is_workday(at(date(2026, 10, 10), 10))


def test_next_and_previous_workday_skip_the_holiday(cal: WorkCalendar) -> None:
    assert cal.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 9, 30), include_today=True) == date(2026, 9, 30)
    assert cal.next_workday(date(2026, 10, 3), include_today=True) == date(2026, 10, 8)
    assert cal.previous_workday(date(2026, 10, 8)) == date(2026, 9, 30)
    assert cal.previous_workday(date(2026, 10, 8), include_today=True) == date(2026, 10, 8)
    assert cal.previous_workday(date(2026, 10, 11)) == date(2026, 10, 10)


def test_workdays_between_counts_one_working_day_across_national_day(cal: WorkCalendar) -> None:
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 8)) == 1
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert cal.workdays_between(date(2026, 10, 8), date(2026, 10, 8)) == 0
    assert cal.workdays_between(date(2026, 10, 8), date(2026, 9, 30)) == 0


def test_workdays_between_an_ordinary_week(cal: WorkCalendar) -> None:
    # Friday → next Friday: Mon..Fri
    assert cal.workdays_between(date(2026, 3, 6), date(2026, 3, 13)) == 5


def test_add_workdays_jumps_over_the_holiday(cal: WorkCalendar) -> None:
    assert cal.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 9, 29), 3) == date(2026, 10, 9)
    assert cal.add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.add_workdays(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert cal.add_workdays(date(2026, 10, 12), -3) == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 3)
    # starting on a holiday: the first working day after it is the 1st
    assert cal.add_workdays(date(2026, 10, 3), 1) == date(2026, 10, 8)


# -- working hours -----------------------------------------------------------------------------


def test_working_hours_within_a_day(cal: WorkCalendar) -> None:
    day = date(2026, 3, 10)
    assert cal.working_hours_between(at(day, 10), at(day, 15, 30)) == 5.5
    assert cal.working_hours_between(at(day, 9), at(day, 18)) == 9.0  # no lunch break


def test_working_hours_across_a_night(cal: WorkCalendar) -> None:
    assert cal.working_hours_between(at(date(2026, 3, 10), 17), at(date(2026, 3, 11), 10)) == 2.0


def test_working_hours_across_a_weekend(cal: WorkCalendar) -> None:
    friday, monday = date(2026, 3, 6), date(2026, 3, 9)
    assert cal.working_hours_between(at(friday, 17), at(monday, 10)) == 2.0


def test_working_hours_across_national_day(cal: WorkCalendar) -> None:
    start, end = at(date(2026, 9, 30), 16), at(date(2026, 10, 8), 11)
    assert cal.working_hours_between(start, end) == 4.0
    # through the make-up Saturday: 2 + 9 (10-08) + 9 (10-09) + 9 (10-10) + 1 (10-12)
    assert cal.working_hours_between(start, at(date(2026, 10, 12), 10)) == 30.0


def test_working_hours_starting_before_or_after_office_hours(cal: WorkCalendar) -> None:
    day, next_day = date(2026, 3, 10), date(2026, 3, 11)
    assert cal.working_hours_between(at(day, 7), at(day, 10)) == 1.0
    assert cal.working_hours_between(at(day, 19), at(next_day, 9, 30)) == 0.5
    assert cal.working_hours_between(at(day, 19), at(day, 23)) == 0.0
    assert cal.working_hours_between(at(day, 6), at(day, 8)) == 0.0


def test_working_hours_are_zero_when_end_is_not_after_start(cal: WorkCalendar) -> None:
    day = date(2026, 3, 10)
    assert cal.working_hours_between(at(day, 12), at(day, 12)) == 0.0
    assert cal.working_hours_between(at(day, 12), at(day, 10)) == 0.0


def test_working_hours_are_computed_in_the_start_time_zone(cal: WorkCalendar) -> None:
    day = date(2026, 3, 10)
    end_utc = at(day, 12).astimezone(UTC)  # 04:00 UTC == 12:00 Shanghai
    assert cal.working_hours_between(at(day, 10), end_utc) == 2.0


def test_working_hours_reject_naive_datetimes(cal: WorkCalendar) -> None:
    naive = datetime(2026, 3, 10, 10)
    with pytest.raises(ValueError, match="aware"):
        cal.working_hours_between(naive, at(date(2026, 3, 10), 12))
    with pytest.raises(ValueError, match="aware"):
        cal.add_working_hours(naive, 1)


def test_working_hours_follow_real_elapsed_time_across_dst() -> None:
    new_york = ZoneInfo("America/New_York")  # DST starts 2026-03-08 02:00
    cal = WorkCalendar(workdays=[date(2026, 3, 8)], office_start=time(0), office_end=time(12))
    start, end = at(date(2026, 3, 8), 0, tz=new_york), at(date(2026, 3, 8), 12, tz=new_york)
    assert cal.working_hours_between(start, end) == 11.0
    assert cal.add_working_hours(start, 11) == end


def test_add_working_hours_from_friday_afternoon_lands_on_monday(cal: WorkCalendar) -> None:
    result = cal.add_working_hours(at(date(2026, 3, 6), 17), 2)
    assert result == at(date(2026, 3, 9), 10)
    assert result.tzinfo is SHANGHAI


def test_add_working_hours_over_national_day(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(at(date(2026, 9, 30), 17), 2) == at(date(2026, 10, 8), 10)


def test_add_working_hours_starting_outside_office_hours(cal: WorkCalendar) -> None:
    day, next_day = date(2026, 3, 10), date(2026, 3, 11)
    assert cal.add_working_hours(at(day, 7), 1) == at(day, 10)
    assert cal.add_working_hours(at(day, 20), 1) == at(next_day, 10)
    assert cal.add_working_hours(at(date(2026, 3, 7), 11), 1.5) == at(date(2026, 3, 9), 10, 30)


def test_add_working_hours_ending_at_closing_time_stays_that_day(cal: WorkCalendar) -> None:
    day = date(2026, 3, 10)
    assert cal.add_working_hours(at(day, 17), 1) == at(day, 18)
    assert cal.add_working_hours(at(day, 12), 0) == at(day, 12)
    with pytest.raises(ValueError):
        cal.add_working_hours(at(day, 12), -1)


def test_add_working_hours_is_the_inverse_of_working_hours_between(cal: WorkCalendar) -> None:
    start = at(date(2026, 9, 29), 15, 20)
    for hours in (0.25, 2, 9, 13.5, 40):
        end = cal.add_working_hours(start, hours)
        assert cal.working_hours_between(start, end) == pytest.approx(hours)


def test_add_working_hours_keeps_a_fixed_offset_time_zone(cal: WorkCalendar) -> None:
    plus8 = timezone(timedelta(hours=8))
    result = cal.add_working_hours(at(date(2026, 3, 6), 17, tz=plus8), 2)
    assert result == at(date(2026, 3, 9), 10, tz=plus8)
    assert result.utcoffset() == timedelta(hours=8)


# -- weeks -------------------------------------------------------------------------------------


def test_last_workday_of_an_ordinary_week_is_friday(cal: WorkCalendar) -> None:
    assert cal.last_workday_of_week(date(2026, 3, 4)) == date(2026, 3, 6)
    assert cal.last_workday_of_week(date(2026, 3, 8)) == date(2026, 3, 6)  # from Sunday


def test_last_workday_of_a_week_whose_friday_is_a_holiday(cal: WorkCalendar) -> None:
    # Dragon Boat Festival: Friday 2026-06-19 is off
    assert cal.last_workday_of_week(date(2026, 6, 15)) == date(2026, 6, 18)


def test_last_workday_of_a_week_with_a_make_up_saturday(cal: WorkCalendar) -> None:
    assert cal.last_workday_of_week(date(2026, 10, 5)) == date(2026, 10, 10)
    assert cal.last_workday_of_week(date(2026, 2, 24)) == date(2026, 2, 28)


def test_last_workday_of_a_full_holiday_week_is_none(cal: WorkCalendar) -> None:
    # Spring Festival: Monday 2026-02-16 .. Sunday 2026-02-22 are all off
    assert cal.last_workday_of_week(date(2026, 2, 18)) is None


# -- copies and settings -----------------------------------------------------------------------


def test_with_office_hours_changes_only_the_hours() -> None:
    base = WorkCalendar(holidays=[date(2026, 3, 10)])
    late = base.with_office_hours(time(10), time(19))
    assert (late.office_start, late.office_end) == (time(10), time(19))
    assert (base.office_start, base.office_end) == (time(9), time(18))
    assert not late.is_workday(date(2026, 3, 10))
    assert late._cache is base._cache
    day = date(2026, 3, 11)
    assert late.working_hours_between(at(day, 8), at(day, 20)) == 9.0
    assert late.add_working_hours(at(day, 18), 2) == at(date(2026, 3, 12), 11)


def test_office_hours_must_be_a_daytime_window() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(office_start=time(18), office_end=time(9))
    with pytest.raises(ValueError):
        WorkCalendar().with_office_hours(time(9), time(9))


def test_calendar_from_settings_parses_the_calendar_section() -> None:
    settings = CalendarSettings(
        holidays=["2026-03-09"], workdays=["2026-03-08"], office_start="08:30", office_end="17:30"
    )
    cal = calendar_from_settings(settings)
    assert not cal.is_workday(date(2026, 3, 9))
    assert cal.is_workday(date(2026, 3, 8))
    assert (cal.office_start, cal.office_end) == (time(8, 30), time(17, 30))
    assert calendar_from_settings(settings) is cal  # one shared instance and cache


def test_calendar_from_default_settings_is_china_nine_to_six() -> None:
    cal = calendar_from_settings(CalendarSettings())
    assert (cal.office_start, cal.office_end) == (time(9), time(18))
    assert cal.is_workday(date(2026, 10, 10))
    assert not cal.is_workday(date(2026, 10, 1))


def test_calendar_from_settings_names_the_bad_key() -> None:
    with pytest.raises(ValueError, match=r"\[calendar\] holidays"):
        calendar_from_settings(CalendarSettings(holidays=["2026-13-01"]))
    with pytest.raises(ValueError, match=r"\[calendar\] office_end"):
        calendar_from_settings(CalendarSettings(office_end="6pm"))


# -- holiday blocks (节后, 国庆前 …) ---------------------------------------------------------------


def test_days_off_around_a_holiday_is_the_whole_block(cal: WorkCalendar) -> None:
    assert cal.days_off_around(date(2026, 10, 3)) == (date(2026, 10, 1), date(2026, 10, 7))
    assert cal.days_off_around(date(2026, 2, 17)) == (date(2026, 2, 15), date(2026, 2, 23))
    assert cal.days_off_around(date(2026, 3, 7)) == (date(2026, 3, 7), date(2026, 3, 8))
    assert cal.days_off_around(date(2026, 10, 10)) is None  # a make-up Saturday


def test_covers_a_year_chinesecalendar_or_the_config_knows() -> None:
    assert WorkCalendar().covers(2026)
    assert not WorkCalendar().covers(2099)
    assert WorkCalendar(holidays=[date(2099, 1, 1)]).covers(2099)
