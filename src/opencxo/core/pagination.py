"""Page-numbered lists for the API and the web UI."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
MAX_PAGE_SIZE = 100
# Keeps the row offset within a 64-bit integer on every backend (beyond it: 422, not a 500).
MAX_PAGE = 100_000
# A sort key is a column name; a route that takes ``sort`` on its own checks the same bound.
MAX_SORT_LENGTH = 40


class PageParams(BaseModel):
    page: int = Field(1, ge=1, le=MAX_PAGE, description="1-based page number")
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)
    sort: str | None = Field(
        None,
        max_length=MAX_SORT_LENGTH,
        description="a column name; prefix with '-' for descending",
    )

    def sort_key(self, allowed: Sequence[str], default: str) -> tuple[str, bool]:
        """The requested column if it is sortable (else ``default``) and whether descending."""
        raw = self.sort or default
        descending = raw.startswith("-")
        column = raw.removeprefix("-")
        if column not in allowed:
            column, descending = default.removeprefix("-"), default.startswith("-")
        return column, descending

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int
    pages: int

    @classmethod
    def of(cls, items: Sequence[T], *, total: int, params: PageParams) -> Page[T]:
        return cls(
            items=list(items),
            total=total,
            page=params.page,
            page_size=params.page_size,
            pages=max(1, math.ceil(total / params.page_size)),
        )


def paginate(rows: Sequence[T], params: PageParams) -> tuple[Sequence[T], int]:
    """Slice an already-ranked list; for lists whose order is computed in Python."""
    return rows[params.offset : params.offset + params.page_size], len(rows)


def every_page(fetch: Callable[[PageParams], Page[T]]) -> list[T]:
    """Every item of a paged list, fetched ``MAX_PAGE_SIZE`` at a time (CLI listings, the demo)."""
    items: list[T] = []
    number = 1
    while True:
        page = fetch(PageParams(page=number, page_size=MAX_PAGE_SIZE))
        items += page.items
        if number >= page.pages:
            return items
        number += 1
