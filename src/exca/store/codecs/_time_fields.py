"""Datetimes and times as plain fields (time zones included), and back."""

from __future__ import annotations

import sys
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Any

from ..errors import CodecError
from ._common import describe_type

__all__ = [
    "datetime_from_fields",
    "datetime_to_fields",
    "is_supported_tz",
    "time_from_fields",
    "time_to_fields",
]

_ONE_MICROSECOND = timedelta(microseconds=1)


def is_supported_tz(tz: tzinfo | None) -> bool:
    """Whether ``tz`` round-trips: none, a ``datetime.timezone``, or a keyed ``ZoneInfo``."""
    return tz is None or type(tz) is timezone or _zone_key(tz) is not None


def datetime_to_fields(value: datetime) -> list[Any]:
    """``[year, month, day, hour, minute, second, microsecond, fold, zone]``."""
    fields = [value.year, value.month, value.day, value.hour, value.minute, value.second]
    return [*fields, value.microsecond, value.fold, _tz_fields(value.tzinfo)]


def datetime_from_fields(*fields: Any) -> datetime:
    """Inverse of :func:`datetime_to_fields`."""
    year, month, day, hour, minute, second, micro, fold, zone = fields
    tz = _tz_from_fields(zone)
    return datetime(year, month, day, hour, minute, second, micro, tz, fold=fold)


def time_to_fields(value: time) -> list[Any]:
    """``[hour, minute, second, microsecond, fold, zone]``."""
    fields = [value.hour, value.minute, value.second, value.microsecond, value.fold]
    return [*fields, _tz_fields(value.tzinfo)]


def time_from_fields(*fields: Any) -> time:
    """Inverse of :func:`time_to_fields`."""
    hour, minute, second, micro, fold, zone = fields
    return time(hour, minute, second, micro, _tz_from_fields(zone), fold=fold)


def _tz_fields(tz: tzinfo | None) -> str | list[Any] | None:
    """None, an IANA key, or ``[offset in microseconds, name]``."""
    if tz is None:
        return None
    key = _zone_key(tz)
    if key is not None:
        return key
    if type(tz) is timezone:
        offset = tz.utcoffset(None)
        return [offset // _ONE_MICROSECOND, tz.tzname(None)]
    raise CodecError(
        f"msgpack stores time zones of type datetime.timezone or zoneinfo.ZoneInfo (with a "
        f"key), got {describe_type(tz)}; use cache_type='pickle'"
    )


def _tz_from_fields(fields: str | list[Any] | None) -> tzinfo | None:
    if fields is None:
        return None
    if isinstance(fields, str):
        from zoneinfo import ZoneInfo  # imported when needed: it costs ~2 ms

        return ZoneInfo(fields)
    micros, name = fields
    plain = timezone(timedelta(microseconds=micros))
    # an explicit name equal to the default one cannot be told apart; it reads the same
    return plain if plain.tzname(None) == name else timezone(plain.utcoffset(None), name)


def _zone_key(tz: tzinfo | None) -> str | None:
    """The key of a ``zoneinfo.ZoneInfo`` time zone, else None (without importing zoneinfo:
    if it was never imported, ``tz`` cannot be one)."""
    zoneinfo = sys.modules.get("zoneinfo")
    if zoneinfo is None or type(tz) is not zoneinfo.ZoneInfo:
        return None
    key: str | None = getattr(tz, "key", None)
    return key
