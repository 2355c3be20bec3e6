"""Report periods: "since"/"until" as dates in the shop's time zone (or epoch ms)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from kefu.errors import InvalidInput
from kefu.store.shops import ShopConfig

__all__ = ["DAY_MS", "parse_period", "shop_zone"]

DAY_MS = 86_400_000
# 10000-01-01 in epoch ms: where ISO dates end too, and far inside what JSON numbers carry.
_END_OF_DATES_MS = 253_402_300_800_000


def shop_zone(config: ShopConfig) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(config.timezone)


def _instant(value: str, zone: zoneinfo.ZoneInfo, name: str) -> int:
    """Epoch ms from "2026-11-01" (midnight in the shop's time zone) or from epoch ms."""
    if value.isascii() and value.isdigit():  # str.isdigit alone also takes '²' and '١'
        if len(value) > len(str(_END_OF_DATES_MS)) or int(value) >= _END_OF_DATES_MS:
            raise InvalidInput(f"{name} must be before the year 10000", code="invalid_period")
        return int(value)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} is a date (YYYY-MM-DD) or epoch milliseconds", code="invalid_period"
        ) from None
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp() * 1000)


def parse_period(
    since: str | None, until: str | None, zone: zoneinfo.ZoneInfo, *, days: int = 7
) -> tuple[int, int]:
    """[since, until) in epoch ms; by default the last `days` days up to the end of today."""
    today = dt.datetime.now(zone).date()
    end = (
        _instant(until, zone, "until")
        if until
        else _instant((today + dt.timedelta(days=1)).isoformat(), zone, "")
    )
    start = _instant(since, zone, "since") if since else end - days * DAY_MS
    if start >= end:
        raise InvalidInput("since must be before until", code="invalid_period")
    if end - start > 400 * DAY_MS:
        raise InvalidInput("a period is at most 400 days", code="invalid_period")
    return start, end
