"""The calendar range that dates entered by users must fall in.

A year-1 or year-9999 date is a typo, and date arithmetic on it (a duration, payment terms, a
shelf life, a time-zone offset) leaves what ``datetime.date`` can hold: an ``OverflowError``
and a 500. Each package checks its inputs against this one range, in its own words.
"""

from __future__ import annotations

from datetime import date

__all__ = ["EARLIEST_DATE", "LATEST_DATE"]

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
