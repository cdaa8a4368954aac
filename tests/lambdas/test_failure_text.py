"""failure_text.cap: the whole first line and the explaining last lines, within the limit."""

from __future__ import annotations

import pytest
from common import failure_text
from hypothesis import given
from hypothesis import strategies as st

TRACE = "\n".join(
    [
        "ValueError: column 'age' has 17 missing values: fill them or drop the rows before training",
        "",
        "Last frames (most recent last):",
        *[
            f"  /opt/ml/code/frame{index}.py:{index} in step{index}\n    step{index + 1}()"
            for index in range(40)
        ],
        "  /opt/ml/code/model.py:12 in fit",
        "    raise ValueError(message)",
    ]
)


def test_short_text_is_unchanged_but_stripped():
    assert failure_text.cap("  RuntimeError: boom\n  at x\n", 100) == "RuntimeError: boom\n  at x"


def test_keeps_the_whole_first_line_the_last_lines_and_says_how_many_were_left_out():
    capped = failure_text.cap(TRACE, 400)

    lines = capped.splitlines()
    assert lines[0] == TRACE.splitlines()[0]
    assert lines[-2:] == ["  /opt/ml/code/model.py:12 in fit", "    raise ValueError(message)"]
    omitted = len(TRACE.splitlines()) - (len(lines) - 1)
    assert lines[1] == f"… {omitted} lines omitted …"
    assert len(capped) <= 400
    assert len(failure_text.cap(TRACE, 401)) > 380  # fills the room it has


def test_a_first_line_longer_than_the_limit_is_cut_with_an_ellipsis():
    capped = failure_text.cap("x" * 300 + "\nmore", 200)
    assert capped == "x" * 199 + "…"


def test_a_last_line_too_long_to_fit_keeps_its_end():
    text = "OSError: write failed\n" + "a" * 50 + "\n" + "noise " * 100 + "disk full"
    capped = failure_text.cap(text, 120)
    assert capped.startswith("OSError: write failed\n… 1 line omitted …\n…")
    assert capped.endswith("disk full") and len(capped) == 120


def test_two_lines_the_second_too_long_keeps_its_end():
    capped = failure_text.cap("Error: x\n" + "y" * 100 + "end", 50)
    assert capped.startswith("Error: x\n…") and capped.endswith("yend") and len(capped) == 50


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        failure_text.cap("x", 0)


def test_headline_is_the_first_non_blank_line():
    assert failure_text.headline("\n\n  KeyError: 'label'\nTraceback") == "KeyError: 'label'"
    assert failure_text.headline("") == ""


@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc")), max_size=80), max_size=30
    ),
    limit=st.integers(min_value=1, max_value=600),
)
def test_never_longer_than_the_limit_and_keeps_the_first_line_when_it_fits(lines, limit):
    text = "\n".join(lines)
    capped = failure_text.cap(text, limit)
    assert len(capped) <= limit
    stripped = text.strip()
    if stripped:
        first = stripped.splitlines()[0]
        if len(first) < limit:
            assert capped.splitlines()[0] == first
