"""Mark quoted evidence inside a document's text, safely.

The text and the quotes come from uploads and from models; neither may ever
reach the page unescaped. Quotes are matched against the raw text (so a quote
can never match inside an entity or markup that escaping adds, and a made-up
quote is never "found"), and every piece is escaped only afterwards, as it is
written out around our own <mark> tags."""

import re
from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def find_spans(text: str, quotes: Iterable[tuple[str, str]]) -> tuple[list[tuple[int, int, set[str]]], set[str]]:
    """Where each (label, quote) occurs in the raw text, merged where they
    overlap, and the labels whose quote was found."""
    spans: list[tuple[int, int, str]] = []
    found: set[str] = set()
    for label, quote in quotes:
        words = (quote or "").split()
        if not words:
            continue
        # Tolerate line breaks and runs of spaces inside a quoted sentence:
        # extracted text wraps where the model's quote does not.
        pattern = r"\s+".join(re.escape(word) for word in words)
        for match in re.finditer(pattern, text):
            spans.append((*match.span(), label))
            found.add(label)
    return _merged(spans), found


def highlight(
    text: str, quotes: Iterable[tuple[str, str]], spans: list[tuple[int, int, set[str]]] | None = None
) -> tuple[SafeString, set[str]]:
    """The escaped text with each (label, quote) marked as <mark class="label">,
    and the labels whose quote was found. A quote that is not in the text is
    worth telling the reviewer about: the model may have made it up. Pass spans
    (from find_spans on the same text) to mark a window of a longer text."""
    found: set[str] = set()
    if spans is None:
        spans, found = find_spans(text, quotes)
    out, pos = [], 0
    for start, end, labels in spans:
        out.append(escape(text[pos:start]))
        out.append(f'<mark class="{" ".join(sorted(labels))}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(escape(text[pos:]))
    # Safe: every piece is the escaped text or our own <mark> tag, whose
    # classes are the caller's fixed labels.
    return mark_safe("".join(out)), found  # noqa: S308


def _merged(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, set[str]]]:
    merged: list[tuple[int, int, set[str]]] = []
    for start, end, label in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2] | {label})
        else:
            merged.append((start, end, {label}))
    return merged


# A review page shows at most this much of a document: the evidence with its context.
SHOWN_CHARS = 60_000
CONTEXT_CHARS = 4_000


def highlight_excerpt(
    text: str, quotes: Iterable[tuple[str, str]], limit: int = SHOWN_CHARS, context: int = CONTEXT_CHARS
) -> tuple[SafeString, set[str], int]:
    """Like highlight(), for a text that may be too long to show whole: the
    passages around the found quotes (each with `context` characters either
    side, at most `limit` in all, or the start when nothing was found), with
    "[… N characters …]" where text was left out. Also returns how many
    characters of the text are shown."""
    spans, found = find_spans(text, quotes)
    if len(text) <= limit:
        return highlight(text, (), spans)[0], found, len(text)
    windows: list[list[int]] = []
    for start, end, _ in spans:
        low, high = max(0, start - context), min(len(text), end + context)
        if windows and low <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], high)
        else:
            windows.append([low, high])
    windows = windows or [[0, min(len(text), limit)]]
    parts, shown, pos = [], 0, 0
    for low, high in windows:
        high = min(high, low + limit - shown)
        if high <= low:
            break
        if low > pos:
            parts.append(escape(f"[… {low - pos:,} characters …]\n"))
        inside = [(max(s, low) - low, min(e, high) - low, labels) for s, e, labels in spans if s < high and e > low]
        parts.append(highlight(text[low:high], (), inside)[0])
        shown += high - low
        pos = high
    if pos < len(text):
        parts.append(escape(f"\n[… {len(text) - pos:,} characters …]"))
    return mark_safe("".join(parts)), found, shown  # noqa: S308 - each part is escaped above
