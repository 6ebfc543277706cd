"""Mark quoted evidence inside a document's text, safely.

The text and the quotes come from uploads and from models; neither may ever
reach the page unescaped. So the whole text is escaped first, each quote is
escaped the same way, and only then are the escaped quotes wrapped in <mark>."""

import re
from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def highlight(text: str, quotes: Iterable[tuple[str, str]]) -> tuple[SafeString, set[str]]:
    """The escaped text with each (label, quote) marked as <mark class="label">,
    and the labels whose quote was found. A quote that is not in the text is
    worth telling the reviewer about: the model may have made it up."""
    escaped = escape(text)
    spans: list[tuple[int, int, str]] = []
    found: set[str] = set()
    for label, quote in quotes:
        if not quote or not quote.strip():
            continue
        # Tolerate line breaks and runs of spaces inside a quoted sentence:
        # extracted text wraps where the model's quote does not.
        pattern = r"\s+".join(re.escape(word) for word in escape(quote).split())
        for match in re.finditer(pattern, escaped):
            spans.append((*match.span(), label))
            found.add(label)
    out, pos = [], 0
    for start, end, labels in _merged(spans):
        out.append(escaped[pos:start])
        out.append(f'<mark class="{" ".join(sorted(labels))}">{escaped[start:end]}</mark>')
        pos = end
    out.append(escaped[pos:])
    # Safe: every piece is a slice of the escaped text or our own <mark> tag,
    # whose classes are the caller's fixed labels.
    return mark_safe("".join(out)), found  # noqa: S308


def _merged(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, set[str]]]:
    merged: list[tuple[int, int, set[str]]] = []
    for start, end, label in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2] | {label})
        else:
            merged.append((start, end, {label}))
    return merged
