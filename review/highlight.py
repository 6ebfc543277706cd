"""Mark quoted evidence inside a document's text, safely.

The text and the quotes come from uploads and from models; neither may ever
reach the page unescaped. So the whole text is escaped first, each quote is
escaped the same way, and only then are the escaped quotes wrapped in <mark>."""

import re
from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def highlight(text: str, quotes: Iterable[str]) -> SafeString:
    escaped = escape(text)
    spans = []
    for quote in {q.strip() for q in quotes if q and q.strip()}:
        # Tolerate line breaks and runs of spaces inside a quoted sentence:
        # extracted text wraps where the model's quote does not.
        pattern = r"\s+".join(re.escape(word) for word in escape(quote).split())
        spans.extend(match.span() for match in re.finditer(pattern, escaped))
    out, pos = [], 0
    for start, end in _merged(spans):
        out.append(escaped[pos:start])
        out.append(f"<mark>{escaped[start:end]}</mark>")
        pos = end
    out.append(escaped[pos:])
    # Safe: every piece is a slice of the escaped text or our own <mark> tag.
    return mark_safe("".join(out))  # noqa: S308


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
