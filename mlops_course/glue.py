"""Figures that the book quotes, recorded from the run that produced them.

This writes the same output MyST-NB's ``myst_nb.glue`` writes (a display
output whose metadata names the figure), without importing myst_nb, so it
works in every course kernel, the TFDV one included. A chapter then quotes
the figure with ``{glue:text}`../solutions/LAB.ipynb::name:.2f``` and the
book build reads it from the committed outputs: prose cannot drift from the
run (tests/test_book.py checks that every quoted figure exists).
"""

from __future__ import annotations

from typing import Any

# MyST-NB reads outputs whose MIME types carry this prefix as glued, not shown.
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any) -> Any:
    """Record ``value`` under ``name`` for the book, and return it.

    Glue plain values (numbers, short strings): the book formats them where it
    quotes them, so the notebook keeps full precision.
    """
    from IPython.display import display

    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    display(
        {GLUE_PREFIX + "text/plain": repr(value)},
        raw=True,
        metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
    )
    return value
