"""The public API is small and deliberate: pinned here."""

import policylab


def test_all_is_pinned():
    assert policylab.__all__ == ["Model", "PolicyLabError", "__version__", "load"]


def test_every_public_name_exists():
    for name in policylab.__all__:
        assert hasattr(policylab, name)


def test_version_is_a_string():
    assert isinstance(policylab.__version__, str) and policylab.__version__
