"""One-at-a-time sensitivity of the rNPV (tornado), on common random numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .model import InputError, Phase, ProgramScenario, Triangular, bounded
from .rnpv import (
    DEFAULT_CHUNK_TRIALS,
    DrawChunk,
    Progress,
    RngLike,
    _Grid,
    _run_chunk,
    draw_uniforms,
)

__all__ = ["Tornado", "TornadoBar", "tornado", "tornado_inputs"]

#: Above this many uniforms the draws are regenerated per evaluation instead of kept.
_KEEP_UNIFORMS = 32_000_000


@dataclass(frozen=True)
class TornadoBar:
    """One input moved to its low and high value, everything else at its base.

    Attributes
    ----------
    parameter
        Path of the input in the scenario, e.g. ``"phases[2].cost_musd"``,
        ``"exclusivity.erosion"``, ``"discount_rate"``.
    label
        Human-readable name, e.g. ``"Phase III: cost ($M)"``.
    base_value
        The input's base value (a triangular's mean; 1 for the erosion scale).
    low_value, high_value
        The values tried (a triangular's low and high; base times ``1 -/+ swing`` for a scalar,
        clipped to its valid range; the erosion curve's scale factor).
    rnpv_low_musd, rnpv_high_musd
        rNPV mean at ``low_value`` and at ``high_value``, $M.
    range_musd
        ``abs(rnpv_high_musd - rnpv_low_musd)``.
    """

    parameter: str
    label: str
    base_value: float
    low_value: float
    high_value: float
    rnpv_low_musd: float
    rnpv_high_musd: float
    range_musd: float


@dataclass(frozen=True)
class Tornado:
    """A tornado diagram: bars sorted by ``range_musd``, largest first.

    Attributes
    ----------
    base_rnpv_musd
        rNPV mean of the unchanged scenario on the same draws, $M.
    trials
        Trials per evaluation.
    swing
        Relative change applied to scalar inputs.
    bars
        One :class:`TornadoBar` per input (see :func:`tornado_inputs`).
    """

    base_rnpv_musd: float
    trials: int
    swing: float
    bars: tuple[TornadoBar, ...]


@dataclass(frozen=True)
class _Variation:
    parameter: str
    label: str
    base_value: float
    low_value: float
    high_value: float
    low: ProgramScenario
    high: ProgramScenario


def _scalar(
    parameter: str,
    label: str,
    value: float,
    swing: float,
    build: Callable[[float], ProgramScenario],
    *,
    upper: float | None = None,
) -> _Variation:
    low = max(value * (1.0 - swing), 0.0)
    high = value * (1.0 + swing)
    if upper is not None:
        high = min(high, upper)
    return _Variation(parameter, label, value, low, high, build(low), build(high))


def _with_phase(scenario: ProgramScenario, index: int, phase: Phase) -> ProgramScenario:
    phases = list(scenario.phases)
    phases[index] = phase
    return replace(scenario, phases=tuple(phases))


def _setter(
    scenario: ProgramScenario, part: str | int | None, name: str
) -> Callable[[Any], ProgramScenario]:
    """A function giving ``scenario`` with field ``name`` of ``part`` set to a value.

    ``part`` is None for the scenario itself, a phase index, or ``"revenue"``/``"exclusivity"``.
    """

    def build(value: Any) -> ProgramScenario:
        changes = {name: value}
        if part is None:
            return replace(scenario, **changes)
        if isinstance(part, int):
            return _with_phase(scenario, part, replace(scenario.phases[part], **changes))
        return replace(scenario, **{part: replace(getattr(scenario, part), **changes)})

    return build


def _triangular(
    parameter: str, label: str, dist: Triangular, build: Callable[[Any], ProgramScenario]
) -> _Variation:
    return _Variation(
        parameter,
        label,
        dist.mean,
        dist.low,
        dist.high,
        build(Triangular.fixed(dist.low)),
        build(Triangular.fixed(dist.high)),
    )


def _variations(scenario: ProgramScenario, swing: float) -> list[_Variation]:
    out: list[_Variation] = []
    for i, phase in enumerate(scenario.phases):
        prefix, name = f"phases[{i}]", phase.name
        out += [
            _scalar(
                f"{prefix}.success_probability",
                f"{name}: success probability",
                phase.success_probability,
                swing,
                _setter(scenario, i, "success_probability"),
                upper=1.0,
            ),
            _triangular(
                f"{prefix}.duration_years",
                f"{name}: duration (years)",
                phase.duration_years,
                _setter(scenario, i, "duration_years"),
            ),
            _triangular(
                f"{prefix}.cost_musd",
                f"{name}: cost ($M)",
                phase.cost_musd,
                _setter(scenario, i, "cost_musd"),
            ),
            _scalar(
                f"{prefix}.start_delay_years",
                f"{name}: start delay (years)",
                phase.start_delay_years,
                swing,
                _setter(scenario, i, "start_delay_years"),
            ),
        ]
    revenue, exclusivity = scenario.revenue, scenario.exclusivity
    out += [
        _triangular(
            "revenue.peak_sales_musd",
            "Peak sales ($M/year)",
            revenue.peak_sales_musd,
            _setter(scenario, "revenue", "peak_sales_musd"),
        ),
        _scalar(
            "revenue.years_to_peak",
            "Years to peak sales",
            revenue.years_to_peak,
            swing,
            _setter(scenario, "revenue", "years_to_peak"),
        ),
        _scalar(
            "revenue.shape",
            "Uptake steepness",
            revenue.shape,
            swing,
            _setter(scenario, "revenue", "shape"),
        ),
        _scalar(
            "exclusivity.loss_years_from_now",
            "Loss of exclusivity (years from now)",
            exclusivity.loss_years_from_now,
            swing,
            _setter(scenario, "exclusivity", "loss_years_from_now"),
        ),
        _scalar(
            "exclusivity.extension_years",
            "Exclusivity extension (years)",
            exclusivity.extension_years,
            swing,
            _setter(scenario, "exclusivity", "extension_years"),
        ),
    ]
    set_erosion = _setter(scenario, "exclusivity", "erosion")

    def erosion(scale: float) -> ProgramScenario:
        return set_erosion(tuple(min(1.0, e * scale) for e in exclusivity.erosion))

    out.append(
        _Variation(
            "exclusivity.erosion",
            "Sales kept after loss of exclusivity (x factor)",
            1.0,
            1.0 - swing,
            1.0 + swing,
            erosion(1.0 - swing),
            erosion(1.0 + swing),
        )
    )
    for parameter, label in (
        ("cogs_share", "COGS share"),
        ("tax_rate", "Tax rate"),
        ("discount_rate", "Discount rate"),
    ):
        value = float(getattr(scenario, parameter))
        out.append(
            _scalar(parameter, label, value, swing, _setter(scenario, None, parameter), upper=1.0)
        )
    out.append(
        _scalar(
            "launch_cost_musd",
            "Launch cost ($M)",
            scenario.launch_cost_musd,
            swing,
            _setter(scenario, None, "launch_cost_musd"),
        )
    )
    return out


def tornado_inputs(scenario: ProgramScenario) -> tuple[str, ...]:
    """The ``parameter`` paths a :func:`tornado` of ``scenario`` has bars for, in model order.

    Examples
    --------
    >>> from opencxo.economics.engine.model import (
    ...     Exclusivity, Phase, ProgramScenario, Revenue, fixed)
    >>> s = ProgramScenario(
    ...     phases=(Phase(name="NDA", success_probability=0.9, duration_years=fixed(1.0),
    ...                   cost_musd=fixed(5.0)),),
    ...     revenue=Revenue(peak_sales_musd=fixed(500.0), years_to_peak=5.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=12.0, erosion=(0.2,)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.1, horizon_years=20)
    >>> tornado_inputs(s)[:4]
    ('phases[0].success_probability', 'phases[0].duration_years', 'phases[0].cost_musd', 'phases[0].start_delay_years')
    >>> len(tornado_inputs(s))
    14
    """
    return tuple(v.parameter for v in _variations(scenario, 0.2))


def tornado(
    scenario: ProgramScenario,
    trials: int,
    rng: RngLike = None,
    swing: float = 0.2,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    progress: Progress | None = None,
) -> Tornado:
    """One-at-a-time sensitivity of the rNPV mean over every input, on common random numbers.

    Parameters
    ----------
    scenario
        The program.
    trials
        Trials per evaluation (every evaluation uses the same draws).
    rng
        Generator, non-negative int seed or None.
    swing
        Relative change of scalar inputs, in (0, 1); default 0.2 (+-20 %).
    chunk_trials
        Trials per chunk of the draws.
    progress
        Called after each evaluation with ``(evaluations done, evaluations in total)``.

    Returns
    -------
    Tornado
        Bars sorted by ``range_musd``, largest first (ties keep model order).

    Raises
    ------
    InputError
        A bad argument.

    Notes
    -----
    For every input :math:`x` with low and high values :math:`x^-, x^+` the bar is
    :math:`(\\mathrm{rNPV}(x^-), \\mathrm{rNPV}(x^+))` with every other input at its base.
    Inputs: per phase its success probability, duration, cost and start delay; peak sales,
    years to peak, uptake steepness; loss-of-exclusivity date, extension and the erosion curve
    (all fractions scaled by :math:`1 \\mp` swing, clipped to 1); COGS share, tax rate, discount
    rate, launch cost. A triangular input is pinned at its low and high values; a scalar
    :math:`v` moves to :math:`v(1 \\mp \\text{swing})`, clipped to its valid range. Not varied:
    the Beta concentration of a success probability (it cannot move the rNPV mean, which depends
    on the mean probability only) and the horizon (a modelling choice). Because every
    evaluation uses the same draws, a bar's length measures the input's effect, not noise.

    References
    ----------
    Saltelli, A. et al. (2008). *Global Sensitivity Analysis: The Primer*, Wiley, ch. 1
    (one-at-a-time designs).

    Examples
    --------
    >>> from opencxo.economics.engine.model import (
    ...     Exclusivity, Phase, ProgramScenario, Revenue, Triangular, fixed)
    >>> s = ProgramScenario(
    ...     phases=(Phase(name="NDA", success_probability=0.9, duration_years=fixed(1.0),
    ...                   cost_musd=fixed(5.0)),),
    ...     revenue=Revenue(peak_sales_musd=Triangular(300, 500, 900), years_to_peak=5.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=12.0, erosion=(0.2,)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.1, horizon_years=20)
    >>> t = tornado(s, 2_000, rng=1)
    >>> t.bars[0].parameter
    'revenue.peak_sales_musd'
    """
    if not isinstance(scenario, ProgramScenario):
        raise InputError("scenario", scenario, "must be a ProgramScenario")
    swing = bounded("swing", swing, "tornado", gt=0.0, lt=1.0)
    draws = draw_uniforms(len(scenario.phases), trials, rng, chunk_trials=chunk_trials)
    rows = 1 + 4 * draws.n_phases
    kept: list[DrawChunk] | None = (
        list(draws.chunks()) if rows * draws.trials <= _KEEP_UNIFORMS else None
    )

    def rnpv(candidate: ProgramScenario) -> float:
        grid = _Grid.of(candidate)
        total = 0.0
        for chunk in kept if kept is not None else draws.chunks():
            total += float(_run_chunk(candidate, grid, chunk, years=False).npv.sum())
        return total / draws.trials

    variations = _variations(scenario, swing)
    evaluations = 1 + 2 * len(variations)
    base = rnpv(scenario)
    done = 1
    bars = []
    for v in variations:
        low = rnpv(v.low)
        high = rnpv(v.high)
        done += 2
        if progress is not None:
            progress(done, evaluations)
        bars.append(
            TornadoBar(
                parameter=v.parameter,
                label=v.label,
                base_value=v.base_value,
                low_value=v.low_value,
                high_value=v.high_value,
                rnpv_low_musd=low,
                rnpv_high_musd=high,
                range_musd=abs(high - low),
            )
        )
    order = np.argsort([-bar.range_musd for bar in bars], kind="stable")
    return Tornado(
        base_rnpv_musd=base,
        trials=draws.trials,
        swing=swing,
        bars=tuple(bars[int(i)] for i in order),
    )
