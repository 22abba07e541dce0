"""``validate``: every check of a model, written and automatic, over an ensemble."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from policylab.api import Backend, Model, check_backend
from policylab.compile.graph import suggest
from policylab.errors import UsageError
from policylab.model.ir import Check
from policylab.validation import automatic, data, scripted
from policylab.validation.context import Context
from policylab.validation.results import AUTOMATIC, KINDS, CheckResult, ValidationReport

Progress = Callable[[str], None]


def validate(
    model: Model,
    kinds: Sequence[str] | None = None,
    runs: int = 1000,
    seed: int = 0,
    backend: Backend = "auto",
    checks: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Run the model's checks and the automatic ones; one result per check.

    ``kinds`` narrows to some kinds (``behaviour``, ``data``, ``reality``, ``lever_response``,
    ``holdout``, ``extreme``, ``integration``, ``units``); ``checks`` to named checks (then no
    automatic checks run unless their kind is asked for). ``runs`` is the ensemble size of a
    check that does not state its own. Every check is resolved (names, windows, mappings)
    before anything runs, so a mistake in the last check costs no simulation time.
    """
    chosen_kinds = _kinds(kinds)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise UsageError(f"runs must be a whole number of at least 1, got {runs!r}")
    ctx = Context(model, runs, seed, check_backend(backend))  # type: ignore[arg-type]
    written = _select(model, checks, chosen_kinds)
    by_kind = {kind: [c for c in written if c.kind == kind] for kind in KINDS}
    behaviours = [scripted.prepare_behaviour(ctx, c) for c in by_kind["behaviour"]]
    datas = [data.prepare_data(ctx, c) for c in by_kind["data"]]
    realities = []
    if by_kind["reality"]:
        variant, arms = scripted.reality_variant(ctx, by_kind["reality"])
        realities = [scripted.prepare_reality(ctx, c, variant, arms[c.name]) for c in by_kind["reality"]]
    responses = scripted.prepare_lever_responses(ctx, by_kind["lever_response"]) if by_kind["lever_response"] else []
    holdouts = [data.prepare_holdout(ctx, c) for c in by_kind["holdout"]]
    report = ValidationReport(model.name, model.ir.path, runs, seed, ctx.backend)
    say = progress or (lambda _text: None)
    steps: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]] = []
    steps += [(b.check.name, lambda b=b: scripted.run_behaviour(ctx, b)) for b in behaviours]
    steps += [(d[0].name, lambda d=d: data.run_data(ctx, d)) for d in datas]
    steps += [(r.check.name, lambda r=r: scripted.run_reality(ctx, r)) for r in realities]
    steps += [(r.check.name, lambda r=r: scripted.run_lever_response(ctx, r)) for r in responses]
    steps += [(h[0].name, lambda h=h: data.run_holdout(ctx, h)) for h in holdouts]
    automatic_wanted = [k for k in AUTOMATIC if k in chosen_kinds and (checks is None or kinds is not None)]
    if "units" in automatic_wanted:
        steps.append(("units", lambda: automatic.run_units(ctx)))
    if "extreme" in automatic_wanted:
        steps.append(("extreme conditions", lambda: automatic.run_extreme(ctx)))
    if "integration" in automatic_wanted:
        steps.append(("integration", lambda: automatic.run_integration(ctx)))
    for label, step in steps:
        say(label)
        found = step()
        report.results.extend(found if isinstance(found, list) else [found])
    return report


def _kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = [kinds]
    for kind in kinds:
        if kind not in KINDS:
            raise UsageError(f"unknown check kind {kind!r}; choose from {', '.join(KINDS)}{suggest(kind, KINDS)}")
    return tuple(kinds)


def _select(model: Model, names: Sequence[str] | None, kinds: tuple[str, ...]) -> list[Check]:
    written = model.ir.checks
    if names is not None:
        from policylab.expr.names import canonical

        for name in names:
            if canonical(name) not in written:
                raise UsageError(f"{model.name} has no check {name!r}.{suggest(canonical(name), written)} "
                                 f"Checks: {', '.join(written) or 'none'}")
        wanted = {canonical(n) for n in names}
        return [c for n, c in written.items() if n in wanted and c.kind in kinds]
    return [c for c in written.values() if c.kind in kinds]
