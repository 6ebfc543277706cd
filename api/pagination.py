"""Cursor pagination keyed on the id alone: a unique key, so a page boundary
never skips or repeats a row however many rows arrive while a client pages."""

from ninja.pagination import CursorPagination


class Newest(CursorPagination):
    """Newest first (highest id first)."""

    def __init__(self, **kwargs):
        super().__init__(ordering=("-id",), page_size=25, max_page_size=100, **kwargs)


class Oldest(CursorPagination):
    """Oldest first: the inbox's order, which works the longest-waiting items first."""

    def __init__(self, **kwargs):
        super().__init__(ordering=("id",), page_size=25, max_page_size=100, **kwargs)
