"""The compiler: desugar stateful builtins, check names, order equations, bind a vectorised plan."""

from policylab.compile.inputs import Inputs, apply_params, resolve_inputs
from policylab.compile.plan import CompiledModel, Program, bind, compile_model

__all__ = ["CompiledModel", "Inputs", "Program", "apply_params", "bind", "compile_model", "resolve_inputs"]
