"""Verify evidence quotes against their source documents, found on the sources path.

Sources are never shipped with a model: ``check`` looks each source's ``file`` up in
``sources/`` beside the model file, then in each folder of ``$POLICYLAB_SOURCES``
(``os.pathsep``-separated), then in folders given on the command line.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from policylab.files import read_capped, within
from policylab.limits import SOURCE_BYTES
from policylab.model.ir import Model

SOURCES_VARIABLE = "POLICYLAB_SOURCES"  # os.pathsep-separated folders of source documents
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"'})
_DASHES = re.compile(r"[‐‑‒–—―−]")
_SPACE = re.compile(r"\s+")
_MARKUP = re.compile(r"[*_]{1,3}")


def normalise(text: str) -> str:
    """NFKC, straight quotes, '-' for dashes, one space for white-space runs (and no Markdown emphasis)."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _DASHES.sub("-", text)
    text = _MARKUP.sub("", text)
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class QuoteResult:
    """The outcome of checking one quote."""

    variable: str
    from_: str
    source: str
    status: Literal["verified", "not_found", "source_missing"]
    message: str


def sources_path(beside: str | Path | None, extra: Sequence[str | Path] | None = None) -> list[Path]:
    """The one sources path, for model evidence and stakeholder quotes alike: the folders searched, in order.

    ``sources/`` beside the file ``beside`` (a model or stakeholder file; skipped when the
    model was not read from a file), then each folder of ``$POLICYLAB_SOURCES``, then ``extra``.
    """
    folders: list[Path] = []
    if beside:
        folders.append(Path(beside).parent / "sources")
    env = os.environ.get(SOURCES_VARIABLE, "")
    folders += [Path(p) for p in env.split(os.pathsep) if p]
    folders += [Path(p) for p in extra or []]
    return folders


def find_source(file: str, folders: list[Path]) -> Path | None:
    """The first ``folder/file`` that is a file and, symlinks resolved, still inside its folder."""
    if not file or Path(file).name != file:  # a bare file name only: no paths from model files
        return None
    for folder in folders:
        candidate = folder / file
        if candidate.is_file() and within(folder, candidate):
            return candidate
    return None


def read_source_text(path: Path) -> str:
    """A source document's text, read with the size cap (UnreadableFileError past it)."""
    return read_capped(path, SOURCE_BYTES, "source document").decode("utf-8", errors="replace")


def check_quotes(model: Model, extra_folders: list[str] | None = None) -> list[QuoteResult]:
    """Check every sourced evidence quote of ``model``; one result per quote."""
    folders = sources_path(model.path, extra_folders)
    texts: dict[str, str | None] = {}
    results = []
    for var in model.variables.values():
        for ev in var.evidence:
            if ev.kind != "source":
                continue
            source = model.sources.get(ev.source)
            if ev.source not in texts:
                found = find_source(source.file, folders) if source is not None else None
                texts[ev.source] = normalise(read_source_text(found)) if found else None
            text = texts[ev.source]
            label = f"{ev.where}: {ev.from_} -> {var.name}"
            if text is None:
                file = source.file if source is not None else "?"
                results.append(QuoteResult(var.name, ev.from_, ev.source, "source_missing",
                                           f"{label}: cannot verify the quote: source file {file!r} of {ev.source!r} "
                                           f"is not on the sources path ({', '.join(map(str, folders)) or 'empty'}); "
                                           f"put it in one of those folders, set POLICYLAB_SOURCES, or pass --sources DIR"))
            elif normalise(ev.quote) in text:
                results.append(QuoteResult(var.name, ev.from_, ev.source, "verified", f"{label}: quote verified"))
            else:
                results.append(QuoteResult(var.name, ev.from_, ev.source, "not_found",
                                           f"{label}: quote not found verbatim in {ev.source!r}: {ev.quote[:80]!r}"))
    return results
