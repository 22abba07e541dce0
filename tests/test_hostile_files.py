"""Hostile files: read once, regular files only, never past a cap; strict YAML; sources stay in their folder.

Each case is generated here (no large files in the repository). Memory is bounded by an
address-space limit set in a child process, hangs by pytest-timeout: no timing assertions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from policylab.errors import ModelFileError, UnreadableFileError
from policylab.files import read_capped
from policylab.formats import read_model
from policylab.formats.yaml_reader import read_yaml_text
from policylab.limits import MODEL_BYTES, SOURCE_BYTES
from policylab.model.evidence import check_quotes

SIR = Path(__file__).resolve().parents[1] / "models" / "sir" / "model.yaml"
SRC = Path(__file__).resolve().parents[1] / "src"


def test_a_symlink_to_dev_zero_is_refused_as_not_a_regular_file(tmp_path: Path) -> None:
    link = tmp_path / "model.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnreadableFileError, match=r"model\.yaml: the model file is not a regular file \(a device\)"):
        read_model(link)


@pytest.mark.timeout(30)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.xmile"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFileError, match="not a regular file \\(a named pipe\\)"):
        read_model(fifo)


def test_a_sparse_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    sparse = tmp_path / "model.yaml"
    with sparse.open("wb") as handle:
        handle.truncate(3 * 2**30)  # 3 GiB of holes: no disk used, but read_bytes() would allocate it all
    with pytest.raises(UnreadableFileError, match="over the limit; set POLICYLAB_LIMIT_MODEL_BYTES"):
        read_model(sparse)


@pytest.mark.timeout(60)
def test_every_reader_refuses_dev_zero_within_a_small_memory_limit(tmp_path: Path) -> None:
    """The readers of model, stakeholder, coupling and mapping files, in a child limited to 1 GiB."""
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from policylab.errors import PolicyLabError
        from policylab.formats import read_model
        from policylab.bargain.stakeholders import read_case
        from policylab.bargain.coupling import read_coupling
        from policylab.analysis.observations import read_mapping
        for reader in (read_model, read_case, read_coupling, read_mapping):
            try:
                reader({str(link)!r})
            except PolicyLabError as error:
                assert "not a regular file" in str(error), error
            else:
                raise SystemExit("read /dev/zero")
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=50)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_cap_can_be_raised_by_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "data.bin"
    file.write_bytes(b"x" * 100)
    monkeypatch.setenv(MODEL_BYTES.variable, "50")
    with pytest.raises(UnreadableFileError, match="100 bytes, over the limit"):
        read_capped(file, MODEL_BYTES)
    monkeypatch.setenv(MODEL_BYTES.variable, "100")
    assert read_capped(file, MODEL_BYTES) == b"x" * 100


def test_a_bad_limit_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_BYTES.variable, "lots")
    with pytest.raises(ValueError, match="POLICYLAB_LIMIT_MODEL_BYTES='lots': give a positive whole number"):
        MODEL_BYTES.value()


MERGE = """\
model: merge
time: {start: 0, stop: 1, dt: 1}
base: &t {value: 1, units: "1"}
constants:
  a:
    <<: *t
    value: oops
"""


def test_a_yaml_merge_key_is_refused_with_its_line() -> None:
    with pytest.raises(ModelFileError, match=r"m\.yaml:6: not valid YAML: merge keys \(<<\) are not supported"):
        read_yaml_text(MERGE, "m.yaml")


@pytest.mark.parametrize("tag", ["!!omap", "!!set", "!!binary", "!!python/object", "!custom", "!!pairs", "!!map"])
def test_a_non_standard_yaml_tag_is_refused_with_its_line(tag: str) -> None:
    text = f"model: tags\ntime: {{start: 0, stop: 1, dt: 1}}\nconstants: {tag}\n  - a: 1\n"
    with pytest.raises(ModelFileError, match=r"t\.yaml:3: not valid YAML: the tag .* is not supported"):
        read_yaml_text(text, "t.yaml")


def test_even_a_standard_explicit_tag_is_refused_rather_than_misread() -> None:
    with pytest.raises(ModelFileError, match=r"t\.yaml:1: not valid YAML: the tag !!str is not supported"):
        read_yaml_text("model: !!str tags\ntime: {start: 0, stop: 1, dt: 1}\n", "t.yaml")


def test_a_source_symlinked_out_of_its_folder_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("the exact quote lives here", encoding="utf-8")
    folder = tmp_path / "model"
    (folder / "sources").mkdir(parents=True)
    (folder / "sources" / "report.txt").symlink_to(outside)
    model_file = folder / "model.yaml"
    model_file.write_text(textwrap.dedent("""\
        model: confined
        time: {start: 0, stop: 1, dt: 1}
        sources:
          report: {title: "A report", publisher: "Someone", date: 2020-06-16, file: report.txt}
        constants:
          a: {value: 1}
        auxiliaries:
          b:
            equation: a * 2
            evidence:
              - {from: a, sign: "+", source: report, quote: "the exact quote lives here"}
        """), encoding="utf-8")
    model = read_model(model_file)
    results = check_quotes(model)
    assert [r.status for r in results] == ["source_missing"]


def test_a_source_over_its_cap_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from policylab.model.evidence import read_source_text

    big = tmp_path / "big.txt"
    big.write_text("x" * 1000, encoding="utf-8")
    monkeypatch.setenv(SOURCE_BYTES.variable, "10")
    with pytest.raises(UnreadableFileError, match="source document is 1,000 bytes"):
        read_source_text(big)

