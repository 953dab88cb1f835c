"""The policy day: policies take effect on Indonesian (Jakarta, WIB) calendar days.

One home for the rule, because a decision, a re-evaluation and the day-change pass must agree on
which day it is: an effective date, an exemption's end or an exchange rate changes at midnight WIB.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal

WIB = timezone(timedelta(hours=7), "WIB")
Clock = Literal["event", "processing"]


def day_of(moment: datetime) -> date:
    """The Jakarta calendar day of an aware moment."""
    return moment.astimezone(WIB).date()


def today() -> date:
    return day_of(datetime.now(UTC))


def policy_day(occurred_at: datetime, now: datetime, clock: Clock) -> date:
    """The day whose policies apply: the event's own time (default) or the time of processing."""
    return day_of(occurred_at if clock == "event" else now)
