"""Every limit on untrusted input is documented in docs/security.md, with its default, and has a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import policylab
from policylab import limits
from policylab.errors import ModelFileError, UnreadableFileError
from policylab.explore import ExploreRequest
from policylab.explore.errors import DesignError
from policylab.files import read_capped
from policylab.formats.yaml_reader import read_yaml_text

ROOT = Path(__file__).resolve().parents[1]
SECURITY = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
SIR = ROOT / "models" / "sir" / "model.yaml"


def _row(limit: limits.Limit) -> str:
    found = [line for line in SECURITY.splitlines() if line.startswith(f"| `{limit.variable}` |")]
    assert found, f"docs/security.md lists no row for {limit.variable}"
    return found[0]


@pytest.mark.parametrize("limit", limits.ALL, ids=lambda limit: limit.name)
def test_each_limit_is_documented_with_its_default(limit: limits.Limit) -> None:
    cells = [cell.strip() for cell in _row(limit).strip("|").split("|")]
    assert cells[1] == f"{limit.default:,}", f"docs/security.md gives {cells[1]} for {limit.variable}"


@pytest.mark.parametrize("limit", limits.ALL, ids=lambda limit: limit.name)
def test_each_documented_limit_names_a_test_that_exists(limit: limits.Limit) -> None:
    tests = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", _row(limit))
    assert tests, f"docs/security.md names no test for {limit.variable}"
    for path, name in tests:
        text = (ROOT / path).read_text(encoding="utf-8")
        assert not name or f"def {name}(" in text, f"{path} has no test {name}"


def test_every_file_cap_refuses_one_byte_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for limit in (limits.MODEL_BYTES, limits.XMILE_BYTES, limits.SOURCE_BYTES):
        monkeypatch.setenv(limit.variable, "64")
        file = tmp_path / "f"
        file.write_bytes(b"x" * 64)
        assert len(read_capped(file, limit)) == 64
        file.write_bytes(b"x" * 65)
        with pytest.raises(UnreadableFileError, match=limit.variable):
            read_capped(file, limit)
    monkeypatch.setenv(limits.XMILE_BYTES.variable, "64")
    xmile = tmp_path / "m.xmile"
    xmile.write_bytes(b"<xmile>" + b" " * 100 + b"</xmile>")
    with pytest.raises(UnreadableFileError, match="POLICYLAB_LIMIT_XMILE_BYTES"):
        policylab.load(xmile)


@pytest.mark.timeout(120)
def test_the_yaml_values_limit_stops_a_long_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.YAML_VALUES.variable, "1000")
    points = ", ".join(f"[{i}, {i}]" for i in range(400))
    text = f"model: big\ntime: {{start: 0, stop: 1, dt: 1}}\nlookups:\n  t: {{points: [{points}]}}\n"
    with pytest.raises(ModelFileError, match="holds more than 1,000 values; set POLICYLAB_LIMIT_YAML_VALUES"):
        read_yaml_text(text, "big.yaml")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sampler", ["lhs", "mc", "sobol"])
def test_an_explore_over_the_run_limit_is_refused_before_sampling(sampler: str) -> None:
    model = policylab.load(SIR)
    request = ExploreRequest(samples=1_000_000_000, sampler=sampler)  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="1,000,000,000 runs .* POLICYLAB_LIMIT_EXPLORE_RUNS"):
        request.source(model)


def test_a_latin_hypercube_too_big_for_memory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from policylab.explore import designs

    monkeypatch.setattr(designs, "available_memory", lambda: 2**20)
    with pytest.raises(DesignError, match="use --sampler mc or sobol"):
        ExploreRequest(samples=100_000, sampler="lhs").source(policylab.load(SIR))


def test_the_server_takes_its_connection_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from policylab.server import ServerConfig
    from policylab.server.runner import DeadlineProtocol, _server

    monkeypatch.setenv(limits.CONNECTIONS.variable, "7")
    monkeypatch.setenv(limits.IDLE_SECONDS.variable, "3")
    server = _server(ServerConfig(models={"sir": SIR}, warm_up=False), "127.0.0.1", 0)
    assert server.config.limit_concurrency == 7 and server.config.timeout_keep_alive == 3
    assert server.config.http is DeadlineProtocol
