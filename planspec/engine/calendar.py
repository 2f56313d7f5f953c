"""Time → buckets and windows: the one place that decides which bucket a timestamp falls in and
where each window of a grid begins and ends, in the plan's time zone.

Bucket ids are global and stable (the same timestamp, bucket size and time zone always give the
same id), so sums gathered in different runs, batches or partitions line up and merge by id.
Buckets are either fixed lengths of time counted from the epoch Monday 1970-01-05T00:00:00Z, or,
for a plan in a time zone other than UTC whose windows are whole days, the zone's local calendar
days (23, 24 or 25 hours around daylight-saving changes), numbered from the same Monday.

Windows of whole days start at local midnight (weeks on Monday), months on the 1st, quarters on
January, April, July and October 1st, years on January 1st; each window is a whole number of
buckets, so it is a sum of its buckets' sums.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo

import numpy as np

from planspec.compile import EPOCH, WindowSpec

UTC = "UTC"
DAY = 86400
_EPOCH_DATE = datetime.date(1970, 1, 5)


@functools.lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone called ``name``."""
    return zoneinfo.ZoneInfo(name)


def local_days(tz: str, size: int) -> bool:
    """Whether buckets of ``size`` seconds in ``tz`` are local calendar days."""
    return size == DAY and tz != UTC


def _day_start(day: int, tz: str) -> int:
    """The first instant of local day ``day`` (days since 1970-01-05) in ``tz``: its midnight,
    or where a daylight-saving change skips midnight, the instant of the change."""
    d = _EPOCH_DATE + datetime.timedelta(days=int(day))
    return int(datetime.datetime(d.year, d.month, d.day, tzinfo=zone(tz)).timestamp())


def day_starts(days: np.ndarray, tz: str) -> np.ndarray:
    """The first instant of each local day (days since 1970-01-05), seconds since the epoch.

    >>> day_starts(np.array([0, 1]), "UTC").tolist()
    [345600, 432000]
    >>> day_starts(np.array([0]), "America/New_York").tolist()  # 05:00Z
    [363600]
    """
    days = np.asarray(days, dtype=np.int64)
    if tz == UTC:
        return days * DAY + EPOCH
    if days.size == 0:
        return days.copy()
    lo, hi = int(days.min()), int(days.max())
    table = np.array([_day_start(d, tz) for d in range(lo, hi + 1)], dtype=np.int64)
    return table[days - lo]


def bucket_ids(times: np.ndarray, size: int, tz: str = UTC) -> np.ndarray:
    """The global bucket of each time (seconds since the Unix epoch, UTC): buckets of ``size``
    seconds counted from the epoch Monday 1970-01-05T00:00:00Z, or local days in ``tz`` (when
    ``size`` is a day and ``tz`` is not UTC).

    >>> bucket_ids(np.array([4 * 86400, 5 * 86400 - 1, 5 * 86400]), 86400).tolist()
    [0, 0, 1]
    >>> bucket_ids(np.array([363599, 363600]), 86400, "America/New_York").tolist()
    [-1, 0]
    """
    times = np.asarray(times, dtype=np.int64)
    if not local_days(tz, size):
        return np.asarray((times - EPOCH) // size, dtype=np.int64)
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Local days are within a day of UTC days: tabulate the local midnights around the range.
    lo = int((times.min() - EPOCH) // DAY) - 2
    hi = int((times.max() - EPOCH) // DAY) + 2
    starts = day_starts(np.arange(lo, hi + 1), tz)
    return np.searchsorted(starts, times, side="right").astype(np.int64) - 1 + lo


def bucket_starts(ids: np.ndarray, size: int, tz: str = UTC) -> np.ndarray:
    """The start of each global bucket, seconds since the Unix epoch.

    >>> bucket_starts(np.array([0, 1]), 86400).tolist()
    [345600, 432000]
    """
    if local_days(tz, size):
        return day_starts(ids, tz)
    return np.asarray(ids, dtype=np.int64) * size + EPOCH


def _month_start(month: int, tz: str) -> int:
    """The first instant of month ``month`` (months since January 1970) in ``tz``."""
    y, m = divmod(int(month), 12)
    day = (datetime.date(1970 + y, m + 1, 1) - _EPOCH_DATE).days
    return _day_start(day, tz)


def _local_day(t: int, tz: str) -> datetime.date:
    return datetime.datetime.fromtimestamp(t, zone(tz)).date()


def windows(spec: WindowSpec, t_min: int, t_max: int, tz: str = UTC
            ) -> tuple[np.ndarray, np.ndarray]:
    """The start and end (seconds since the epoch) of every window of ``spec`` from the one
    holding ``t_min`` (for a sliding grid: the one starting in its step) to the last starting
    by ``t_max``.

    >>> s, e = windows(WindowSpec(1, 1, "mo"), 1769904000, 1772323199)  # February 2026
    >>> [(e - s) // 86400 for s, e in zip(s.tolist(), e.tolist())]
    [28]
    """
    if spec.unit == "s":
        first = (t_min - EPOCH) // spec.step * spec.step + EPOCH
        starts = np.arange(first, t_max + 1, spec.step, dtype=np.int64)
        ends = starts + spec.length
    elif spec.unit == "d":
        d0 = (_local_day(t_min, tz) - _EPOCH_DATE).days
        d1 = (_local_day(t_max, tz) - _EPOCH_DATE).days
        first = d0 // spec.step * spec.step
        days = np.arange(first, d1 + 1, spec.step, dtype=np.int64)
        starts, ends = day_starts(days, tz), day_starts(days + spec.length, tz)
    else:  # months
        def month(t: int) -> int:
            d = _local_day(t, tz)
            return (d.year - 1970) * 12 + d.month - 1

        m0, m1 = month(t_min), month(t_max)
        first = m0 // spec.step * spec.step
        months = range(first, m1 + 1, spec.step)
        starts = np.array([_month_start(m, tz) for m in months], dtype=np.int64)
        ends = np.array([_month_start(m + spec.length, tz) for m in months], dtype=np.int64)
    return starts, ends


def period_start(t: int, size: int, tz: str = UTC) -> int:
    """The start of the period holding ``t``: its bucket when buckets are shorter than a day,
    else its local day (the data "begins" there: a window starting earlier is partial)."""
    if size < DAY:
        return int(bucket_starts(bucket_ids(np.array([t]), size, tz), size, tz)[0])
    return int(day_starts(bucket_ids(np.array([t]), DAY, tz), tz)[0]) if tz != UTC \
        else int((t - EPOCH) // DAY * DAY + EPOCH)
