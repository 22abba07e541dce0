"""Terminal control characters never reach a terminal: refused in model files, escaped in messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from policylab.errors import ModelFileError, printable
from policylab.formats.xmile import read_xmile_bytes
from policylab.formats.yaml_reader import read_yaml_text

ROOT = Path(__file__).resolve().parents[1]
CONTROLS = ["\\e[31m", "\\x9b2J", "\\u202e", "\\x07", "\\r"]


@pytest.mark.parametrize("escape", CONTROLS)
def test_a_yaml_name_or_text_with_a_control_character_is_refused_with_its_line(escape: str) -> None:
    text = f'model: names\ntime: {{start: 0, stop: 1, dt: 1}}\nconstants:\n  "a{escape}b": 1\n'
    with pytest.raises(ModelFileError, match=r"n\.yaml:4: not valid YAML: the text holds the control character"):
        read_yaml_text(text, "n.yaml")


XMILE = """<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
  <header><vendor>x</vendor><product version="1">x</product></header>
  <sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>
  <model><variables>
    <aux name="{name}"><eqn>1</eqn></aux>
  </variables></model>
</xmile>
"""


@pytest.mark.parametrize("reference", ["&#x9b;2J", "&#x202e;", "&#x85;"])
def test_an_xmile_name_with_a_control_character_reference_is_refused(reference: str) -> None:
    data = XMILE.format(name=f"a{reference}b").encode()
    with pytest.raises(ModelFileError, match=r"x\.xmile: line 6: the text holds the control character"):
        read_xmile_bytes(data, "x.xmile")


def test_printable_escapes_what_would_drive_a_terminal_and_keeps_the_rest() -> None:
    assert printable("r\x1b[31mé\u202eñ\tok\n") == "r\\x1b[31mé\\u202eñ\tok\n"


def test_a_hostile_name_on_the_command_line_is_escaped_in_the_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import sys; sys.argv[0] = 'policylab'; from policylab.cli import main; main()"
    model = ROOT / "models" / "sir" / "model.yaml"
    done = subprocess.run([sys.executable, "-c", code, "run", str(model), "--scenario", "x\x1b[2Jy", "-n", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode in (1, 2) and "\x1b" not in done.stderr and "\\x1b[2J" in done.stderr, done.stderr


def test_a_store_edited_to_hold_control_characters_prints_them_escaped(tmp_path: Path) -> None:
    import duckdb

    import policylab
    from policylab.explore import ExploreRequest, start
    from policylab.scale import InProcess
    from policylab.store import Store

    store = Store(tmp_path / "store")
    run_id = start(policylab.load(ROOT / "tests" / "explore" / "noisy.yaml"), ExploreRequest(samples=4), store,
                   InProcess())
    with duckdb.connect(str(store.catalogue_path)) as con:
        con.execute("UPDATE runs SET model = ?", ["x\x1b]0;owned\x07y"])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import sys; sys.argv[0] = 'policylab'; from policylab.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "runs", "list", "--store", str(store.root)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and run_id in done.stdout, done.stderr
    assert "\x1b" not in done.stdout and "\\x1b]0;owned\\x07y" in done.stdout
