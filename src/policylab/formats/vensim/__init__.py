"""Vensim ``.mdl`` models (without subscripts, for now) read into the model IR; see docs/vensim.md."""

from policylab.formats.vensim.reader import VensimReadWarning, read_vensim, read_vensim_bytes

__all__ = ["VensimReadWarning", "read_vensim", "read_vensim_bytes"]
