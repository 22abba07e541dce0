"""The model card: the README.md beside a model file, rendered to HTML.

Raw HTML in the Markdown is escaped rather than passed through (CommonMark with
``html`` off), so a model card cannot inject script into a report or the dashboard.
"""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from policylab.model.ir import Model

CARD_NAMES = ("README.md", "readme.md", "MODEL_CARD.md")
MAX_CARD_BYTES = 500_000


def card_path(model: Model) -> Path | None:
    """The model card file beside the model file, if there is one."""
    if not model.path:
        return None
    folder = Path(model.path).parent
    for name in CARD_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def render_markdown(text: str) -> str:
    """CommonMark with tables and strikethrough, raw HTML escaped."""
    return MarkdownIt("commonmark", {"html": False, "typographer": True}).enable(["table", "strikethrough"]).render(text)


def model_card_html(model: Model) -> str | None:
    """The rendered model card, or None when the model folder has none."""
    path = card_path(model)
    if path is None or path.stat().st_size > MAX_CARD_BYTES:
        return None
    return render_markdown(path.read_text(encoding="utf-8", errors="replace"))
