"""Vensim ``.mdl`` models read into the model IR, subscripts as its arrays; see docs/vensim.md."""

from policylab.formats.vensim.reader import VensimReadWarning, read_vensim, read_vensim_bytes

__all__ = ["VensimReadWarning", "read_vensim", "read_vensim_bytes"]
