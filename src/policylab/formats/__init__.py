"""Readers and writers of model files: the native YAML format, XMILE and Vensim (read only)."""

from __future__ import annotations

from pathlib import Path

from policylab.errors import ModelFileError
from policylab.model.ir import Model

XMILE_SUFFIXES = (".xmile", ".stmx", ".itmx", ".xml")
YAML_SUFFIXES = (".yaml", ".yml")
VENSIM_SUFFIXES = (".mdl",)


def read_model(path: str | Path) -> Model:
    """Read a model file, choosing the reader by its extension."""
    file = Path(path)
    suffix = file.suffix.lower()
    if not file.exists():
        raise ModelFileError(f"{file}: no such file; give the path of a .yaml, .xmile, .stmx, .itmx or .mdl model")
    if file.is_dir():
        candidate = file / "model.yaml"
        if candidate.exists():
            return read_model(candidate)
        raise ModelFileError(f"{file}: is a folder without a model.yaml; give the model file's path")
    if suffix in YAML_SUFFIXES:
        from policylab.formats.yaml_reader import read_yaml

        return read_yaml(file)
    if suffix in XMILE_SUFFIXES:
        try:
            from policylab.formats.xmile import read_xmile
        except ImportError as err:
            raise ModelFileError(f"{file}: XMILE support is not available in this installation") from err
        return read_xmile(file)
    if suffix in VENSIM_SUFFIXES:
        from policylab.formats.vensim import read_vensim

        return read_vensim(file)
    raise ModelFileError(
        f"{file}: unknown model format {suffix or '(no extension)'!r}; PolicyLab reads .yaml/.yml, .xmile/.stmx/.itmx and .mdl (Vensim)"
    )


__all__ = ["read_model"]
