"""Source documents at run time: find a source's file on the sources path and locate a quote in it.

Sources are never stored in the repository or the report's inputs; they are read from
the sources path (``sources/`` beside the model, ``$POLICYLAB_SOURCES``, extra folders)
when a report is written or the dashboard asks. A quote is located the way ``check``
verifies it — after normalisation (NFKC, straight quotes, ``-`` for dashes, no Markdown
emphasis, one space per white-space run) — and mapped back to offsets in the original
text, so the highlighted passage is a verbatim slice of the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policylab.model.evidence import find_source, normalise, read_source_text, sources_path
from policylab.model.ir import Model

@dataclass(frozen=True)
class SourceDocument:
    """A source's text as found on the sources path (``text`` is None when the file is not there)."""

    id: str
    title: str
    publisher: str
    date: str
    url: str
    file: str
    text: str | None


def find_source_file(model: Model, source_id: str, extra: list[str] | None = None) -> Path | None:
    """The file of source ``source_id`` on the sources path; only a bare file name is ever looked up."""
    source = model.sources.get(source_id)
    return None if source is None else find_source(source.file, sources_path(model.path, extra))


def read_source(model: Model, source_id: str, extra: list[str] | None = None) -> SourceDocument | None:
    """The source's metadata and text (None for an unknown source id)."""
    source = model.sources.get(source_id)
    if source is None:
        return None
    path = find_source_file(model, source_id, extra)
    text = read_source_text(path) if path is not None else None
    return SourceDocument(source.id, source.title, source.publisher, source.date, source.url, source.file, text)


def _normalised_with_offsets(text: str) -> tuple[str, list[int]]:
    """``text`` normalised as ``normalise`` does, and for each output character its offset in ``text``."""
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        piece = " " if ch.isspace() else normalise(ch)
        for part in piece:
            if part.isspace():
                if not out or out[-1] == " ":
                    continue
                part = " "
            out.append(part)
            offsets.append(i)
    return "".join(out), offsets


def locate_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Start and end offsets in ``text`` of the passage that ``quote`` matches after normalisation."""
    wanted = normalise(quote)
    if not wanted:
        return None
    flat, offsets = _normalised_with_offsets(text)
    at = flat.find(wanted)
    if at < 0:
        return None
    return offsets[at], offsets[at + len(wanted) - 1] + 1
