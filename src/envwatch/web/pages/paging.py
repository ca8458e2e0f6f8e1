"""Search and paging of long lists (分页): one page of rows, the page number kept in range."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 50


@dataclass(frozen=True)
class Paged:
    """One page of a (searched) list; ``q`` is the search text the pager links carry on."""

    rows: list[Any]
    page: int
    pages: int
    total: int
    q: str


def paginate(rows: Sequence[Any], page_text: str | None, q: str = "", size: int | None = None) -> Paged:
    """Page ``page_text`` (1-based; unreadable = 1, out of range = the nearest page) of ``rows``,
    ``size`` (default ``PAGE_SIZE``) rows a page."""
    size = size or PAGE_SIZE
    pages = max(1, math.ceil(len(rows) / size))
    try:
        page = int(page_text or "1")
    except ValueError:
        page = 1
    page = min(max(page, 1), pages)
    start = (page - 1) * size
    return Paged(list(rows[start : start + size]), page, pages, len(rows), q)


def search_page(
    rows: Sequence[Any], text_of_row: Callable[[Any], str], q: str, page_text: str | None
) -> Paged:
    """Rows whose text contains ``q`` (any case), ``PAGE_SIZE`` per page."""
    q = q.strip()
    wanted = q.casefold()
    found = [r for r in rows if wanted in text_of_row(r).casefold()] if wanted else list(rows)
    return paginate(found, page_text, q)
