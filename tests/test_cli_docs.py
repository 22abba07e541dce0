"""docs/cli.md names every verb and every long option of the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from policylab.cli import app

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")


def _commands(command, path=()):  # type: ignore[no-untyped-def]
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def test_docs_cli_lists_every_verb_and_option() -> None:
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        if hasattr(command, "commands"):
            continue
        heading = f"### `policylab {' '.join(path)}`"
        if heading not in DOC:
            missing.append(heading)
            continue
        section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
        missing += [f"{' '.join(path)} {opt}" for p in command.params for opt in p.opts
                    if opt.startswith("--") and opt not in section]
    assert not missing, f"docs/cli.md lacks: {missing}; regenerate its Verbs section from `policylab VERB -h`"
