"""Fit a multi-line failure reason into a character limit without losing what explains it.

A reason reads like the training runtime's output/failure: a headline (``RuntimeError: no rows
in training.csv``), then detail whose end matters most (the last frames of a traceback, the last
lines a program printed). Cutting at N characters keeps the start of the detail and loses its
end; ``cap`` keeps the whole first line and as many last lines as fit, with a marker saying how
many lines in between were left out. Used for SageMaker's FailureReason (the emulator), the run
record, the email and the local terminal, so they all show the same thing.
"""

from __future__ import annotations

ELLIPSIS = "…"


def omitted_marker(count: int) -> str:
    return f"{ELLIPSIS} {count} line{'s' if count != 1 else ''} omitted {ELLIPSIS}"


def headline(text: str) -> str:
    """The first non-blank line, whole."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def cap(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: the whole first line (cut with an ellipsis only
    when it alone is longer than the limit), a marker for the lines left out, and the last lines."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = text.strip()
    if len(text) <= limit:
        return text
    first, *rest = text.splitlines()
    if len(first) >= limit:
        return first[: limit - 1] + ELLIPSIS
    tail: list[str] = []
    # Add last lines while the first line, the marker and the tail still fit.
    for line in reversed(rest):
        candidate = [line, *tail]
        marker = omitted_marker(len(rest) - len(candidate))
        if len("\n".join([first, marker, *candidate])) > limit:
            break
        tail = candidate
    if tail:
        return "\n".join([first, omitted_marker(len(rest) - len(tail)), *tail])
    # The last line alone is too long: keep its end, which is where a message usually says why.
    marker = omitted_marker(len(rest) - 1)
    room = limit - len(first) - len(marker) - 3
    if len(rest) == 1:
        room = limit - len(first) - 2
        return f"{first}\n{ELLIPSIS}{rest[-1][-room:]}" if room > 0 else first
    return f"{first}\n{marker}\n{ELLIPSIS}{rest[-1][-room:]}" if room > 0 else first
