"""Cost per approved drug: out-of-pocket and capitalised, by the DiMasi method.

Each development phase's spending is spread uniformly over the phase; failures are carried by
dividing the expected cost per compound entering the clinic by the clinical success rate; each
cash flow is compounded annually at a real discount rate forward to the approval date.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "CostInputs",
    "CostPerApproval",
    "Phase",
    "PhaseCost",
    "capitalization_factor",
    "cost_per_approval",
    "loa",
]

MONTHS_PER_YEAR = 12.0

FloatArray = npt.NDArray[np.float64]


def _number(argument: str, value: object) -> float:
    """``value`` as a finite float, or a ValueError naming ``argument``."""
    if isinstance(value, bool):
        raise ValueError(f"{argument} = {value!r} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{argument} = {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{argument} = {number} must be finite")
    return number


def _probability(argument: str, value: object) -> float:
    number = _number(argument, value)
    if not 0.0 < number <= 1.0:
        raise ValueError(f"{argument} = {number} is outside (0, 1]")
    return number


def _at_least(argument: str, value: object, bound: float) -> float:
    number = _number(argument, value)
    if not number >= bound:
        raise ValueError(f"{argument} = {number} is below {bound}")
    return number


def _positive(argument: str, value: object) -> float:
    number = _number(argument, value)
    if not number > 0.0:
        raise ValueError(f"{argument} = {number} must be > 0")
    return number


@dataclass(frozen=True)
class Phase:
    """One development phase of a compound that has entered human testing.

    Parameters
    ----------
    name : str
        Label, e.g. ``"Phase II"``.
    cost_per_entrant_musd : float
        Mean out-of-pocket cost per compound *entering* the phase [$M], >= 0.
    transition_probability : float
        Probability that a compound entering the phase moves on to the next one (for the last
        phase: to approval), in (0, 1].
    start_offset_months : float
        Start of the phase in months after first human dose, >= 0.
    length_months : float
        Length of the phase in months, > 0; spending is spread uniformly over it.
    """

    name: str
    cost_per_entrant_musd: float
    transition_probability: float
    start_offset_months: float
    length_months: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name = {self.name!r} must be a non-empty string")
        where = f"phase {self.name!r}"
        checked = {
            "cost_per_entrant_musd": _at_least(
                f"cost_per_entrant_musd of {where}", self.cost_per_entrant_musd, 0.0
            ),
            "transition_probability": _probability(
                f"transition_probability of {where}", self.transition_probability
            ),
            "start_offset_months": _at_least(
                f"start_offset_months of {where}", self.start_offset_months, 0.0
            ),
            "length_months": _positive(f"length_months of {where}", self.length_months),
        }
        for field, value in checked.items():
            object.__setattr__(self, field, value)

    @property
    def end_offset_months(self) -> float:
        """End of the phase in months after first human dose."""
        return self.start_offset_months + self.length_months


@dataclass(frozen=True)
class CostInputs:
    """Everything the cost-per-approval model needs; validated on construction.

    Parameters
    ----------
    phases : tuple of Phase
        Clinical phases in order from first human dose; at least one. Include the regulatory
        review as a phase (cost 0) so its success probability counts in the success rate.
    preclinical_cost_per_approval_musd : float
        Pre-human (discovery and preclinical) out-of-pocket cost per *approved* compound [$M], >= 0;
        already carries its failures, so it is not divided by the clinical success rate.
    preclinical_period_months : float
        Months before first human dose over which the pre-human cost is spread uniformly, > 0.
    time_to_approval_months : float
        Months from first human dose to approval, > 0; no phase may end after it.
    discount_rate : float
        Real annual cost of capital as a fraction (0.105 for 10.5 %), in [0, 1].
    """

    phases: tuple[Phase, ...]
    preclinical_cost_per_approval_musd: float
    preclinical_period_months: float
    time_to_approval_months: float
    discount_rate: float

    def __post_init__(self) -> None:
        phases = tuple(self.phases) if isinstance(self.phases, Iterable) else None
        if not phases:
            raise ValueError(f"phases = {self.phases!r} must hold at least one Phase")
        for index, phase in enumerate(phases):
            if not isinstance(phase, Phase):
                raise ValueError(f"phases[{index}] = {phase!r} is not a Phase")
        object.__setattr__(self, "phases", phases)
        object.__setattr__(
            self,
            "preclinical_cost_per_approval_musd",
            _at_least(
                "preclinical_cost_per_approval_musd", self.preclinical_cost_per_approval_musd, 0.0
            ),
        )
        object.__setattr__(
            self,
            "preclinical_period_months",
            _positive("preclinical_period_months", self.preclinical_period_months),
        )
        horizon = _positive("time_to_approval_months", self.time_to_approval_months)
        object.__setattr__(self, "time_to_approval_months", horizon)
        rate = _number("discount_rate", self.discount_rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(
                f"discount_rate = {rate} is outside [0, 1] (a fraction: 0.105 for 10.5 %)"
            )
        object.__setattr__(self, "discount_rate", rate)
        for phase in phases:
            if phase.end_offset_months > horizon * (1.0 + 1e-12):
                raise ValueError(
                    f"phase {phase.name!r} ends at {phase.end_offset_months} months "
                    "(start_offset_months + length_months), after "
                    f"time_to_approval_months = {horizon}"
                )


@dataclass(frozen=True)
class PhaseCost:
    """One phase's share of the cost per approval.

    Attributes
    ----------
    name : str
        The phase's label.
    probability_of_reaching : float
        Probability that a compound entering human testing reaches this phase.
    expected_cost_per_entrant_musd : float
        ``probability_of_reaching * cost_per_entrant_musd`` [$M per compound entering the clinic].
    out_of_pocket_per_approval_musd : float
        Expected cost divided by the clinical success rate [$M per approval].
    capitalization_factor : float
        Mean compounding factor of the phase's spending to the approval date (1 at rate 0).
    capitalized_per_approval_musd : float
        ``out_of_pocket_per_approval_musd * capitalization_factor`` [$M per approval].
    """

    name: str
    probability_of_reaching: float
    expected_cost_per_entrant_musd: float
    out_of_pocket_per_approval_musd: float
    capitalization_factor: float
    capitalized_per_approval_musd: float


@dataclass(frozen=True)
class CostPerApproval:
    """Cost per approved drug [$M, in the currency year of the inputs].

    Attributes
    ----------
    success_rate : float
        Clinical approval success rate: the product of the transition probabilities.
    expected_clinical_cost_per_entrant_musd : float
        Expected clinical cost per compound entering human testing [$M].
    out_of_pocket_clinical_musd, out_of_pocket_preclinical_musd, out_of_pocket_total_musd : float
        Undiscounted cost per approval [$M]: clinical, pre-human and their sum.
    capitalized_clinical_musd, capitalized_preclinical_musd, capitalized_total_musd : float
        Cost per approval compounded to the approval date at the real discount rate [$M].
    phases : tuple of PhaseCost
        Per-phase breakdown, in the order of the inputs.
    """

    success_rate: float
    expected_clinical_cost_per_entrant_musd: float
    out_of_pocket_clinical_musd: float
    out_of_pocket_preclinical_musd: float
    out_of_pocket_total_musd: float
    capitalized_preclinical_musd: float
    capitalized_clinical_musd: float
    capitalized_total_musd: float
    phases: tuple[PhaseCost, ...]


def capitalization_factor(
    start_months: npt.ArrayLike,
    end_months: npt.ArrayLike,
    horizon_months: float,
    discount_rate: float,
) -> FloatArray:
    """Mean factor compounding uniform spending over ``[start, end]`` forward to ``horizon``.

    Parameters
    ----------
    start_months, end_months : array_like
        Start and end of the spending period in months (same origin as ``horizon_months``);
        ``end > start``.
    horizon_months : float
        The date the spending is compounded to (approval) in months.
    discount_rate : float
        Real annual rate as a fraction, >= 0.

    Returns
    -------
    numpy.ndarray
        ``(1/L) ∫ (1 + r)^((T − t)/12) dt`` over the period, elementwise.

    Notes
    -----
    With :math:`g = \\ln(1+r)`, length in years :math:`y = (b - a)/12` and
    :math:`\\operatorname{exprel}(x) = (e^x - 1)/x` (1 at 0):

    .. math:: F = (1+r)^{(T-b)/12}\\,\\operatorname{exprel}(g\\,y)
    """
    start = np.asarray(start_months, dtype=np.float64)
    end = np.asarray(end_months, dtype=np.float64)
    growth = math.log1p(discount_rate)
    years_after = (horizon_months - end) / MONTHS_PER_YEAR
    years_long = (end - start) / MONTHS_PER_YEAR
    spread: FloatArray = np.asarray(special.exprel(growth * years_long), dtype=np.float64)
    return np.asarray(np.exp(growth * years_after) * spread, dtype=np.float64)


def cost_per_approval(inputs: CostInputs) -> CostPerApproval:
    """Out-of-pocket and capitalised cost per approved drug (DiMasi method).

    Parameters
    ----------
    inputs : CostInputs
        Phases (cost per entrant, transition probability, start offset and length), pre-human cost
        per approval and period, time from first human dose to approval, real discount rate.
        Validated when constructed.

    Returns
    -------
    CostPerApproval
        Success rate, out-of-pocket and capitalised costs per approval (clinical, pre-human,
        total) and a per-phase breakdown.

    Raises
    ------
    TypeError
        If ``inputs`` is not a :class:`CostInputs`.
    ValueError
        From :class:`CostInputs` / :class:`Phase` construction: a probability outside (0, 1], a
        length or period <= 0, a negative cost or offset, a discount rate outside [0, 1], or a
        phase ending after approval; the message names the argument, the value and the bound.

    Notes
    -----
    Phases :math:`i = 1..n` with cost per entrant :math:`c_i`, transition probability
    :math:`p_i`, start :math:`a_i` and length :math:`L_i` months after first human dose; approval at
    :math:`T` months; real rate :math:`r`. A compound entering the clinic reaches phase :math:`i`
    with :math:`\\pi_i = \\prod_{j<i} p_j` and is approved with :math:`S = \\prod_j p_j`.

    Out of pocket per approval: :math:`C^{oop}_{clin} = \\sum_i \\pi_i c_i / S`, plus the pre-human
    cost per approval :math:`K` (already per approval).

    Capitalised: a cash flow at month :math:`t` is worth :math:`(1+r)^{(T-t)/12}` at approval
    (annual compounding, fractional years). Spending spread uniformly over :math:`[a, b]` is
    integrated exactly,

    .. math::

        F(a, b) = \\frac{1}{b-a}\\int_a^b (1+r)^{(T-t)/12}\\,dt
                = (1+r)^{(T-b)/12}\\,\\frac{(1+r)^{(b-a)/12} - 1}{\\ln(1+r)\\,(b-a)/12},

    so :math:`C^{cap}_{clin} = \\sum_i \\pi_i c_i F(a_i, a_i + L_i) / S` and the pre-human cost,
    spread over the :math:`P` months before first human dose, is :math:`K\\,F(-P, 0)`. At
    :math:`r = 0` every :math:`F = 1` and capitalised equals out of pocket.

    References
    ----------
    .. [1] DiMasi JA, Grabowski HG, Hansen RW (2016). Innovation in the pharmaceutical industry:
       New estimates of R&D costs. Journal of Health Economics 47:20–33.
       doi:10.1016/j.jhealeco.2016.01.012
    .. [2] DiMasi JA, Hansen RW, Grabowski HG (2003). The price of innovation: new estimates of
       drug development costs. Journal of Health Economics 22:151–185.

    Examples
    --------
    >>> from opencxo.economics.engine.cost import CostInputs, Phase, cost_per_approval
    >>> inputs = CostInputs(
    ...     phases=(
    ...         Phase("Phase I", 25.3, 0.5952, 0.0, 19.8),
    ...         Phase("Phase II", 58.6, 0.3552, 19.8, 30.3),
    ...         Phase("Phase III", 255.4, 0.6195, 50.1, 30.7),
    ...         Phase("Review", 0.0, 0.9035, 80.8, 16.0),
    ...     ),
    ...     preclinical_cost_per_approval_musd=430.0,
    ...     preclinical_period_months=31.2,
    ...     time_to_approval_months=96.8,
    ...     discount_rate=0.105,
    ... )
    >>> result = cost_per_approval(inputs)
    >>> round(result.success_rate, 4), round(result.out_of_pocket_total_musd)
    (0.1183, 1395)
    >>> round(result.capitalized_preclinical_musd), round(result.capitalized_clinical_musd)
    (1099, 1529)
    """
    if not isinstance(inputs, CostInputs):
        raise TypeError(f"inputs = {inputs!r} is not a CostInputs")
    phases = inputs.phases
    probabilities = np.array([p.transition_probability for p in phases], dtype=np.float64)
    costs = np.array([p.cost_per_entrant_musd for p in phases], dtype=np.float64)
    starts = np.array([p.start_offset_months for p in phases], dtype=np.float64)
    ends = np.array([p.end_offset_months for p in phases], dtype=np.float64)

    reach = np.concatenate(([1.0], np.cumprod(probabilities)[:-1]))
    success = float(np.prod(probabilities))
    expected = reach * costs
    out_of_pocket = expected / success
    factors = capitalization_factor(
        starts, ends, inputs.time_to_approval_months, inputs.discount_rate
    )
    capitalized = out_of_pocket * factors

    preclinical_factor = float(
        capitalization_factor(
            -inputs.preclinical_period_months,
            0.0,
            inputs.time_to_approval_months,
            inputs.discount_rate,
        )
    )
    preclinical = inputs.preclinical_cost_per_approval_musd
    clinical = float(out_of_pocket.sum())
    clinical_capitalized = float(capitalized.sum())
    preclinical_capitalized = preclinical * preclinical_factor
    return CostPerApproval(
        success_rate=success,
        expected_clinical_cost_per_entrant_musd=float(expected.sum()),
        out_of_pocket_clinical_musd=clinical,
        out_of_pocket_preclinical_musd=preclinical,
        out_of_pocket_total_musd=clinical + preclinical,
        capitalized_preclinical_musd=preclinical_capitalized,
        capitalized_clinical_musd=clinical_capitalized,
        capitalized_total_musd=clinical_capitalized + preclinical_capitalized,
        phases=tuple(
            PhaseCost(
                name=phase.name,
                probability_of_reaching=float(reach[i]),
                expected_cost_per_entrant_musd=float(expected[i]),
                out_of_pocket_per_approval_musd=float(out_of_pocket[i]),
                capitalization_factor=float(factors[i]),
                capitalized_per_approval_musd=float(capitalized[i]),
            )
            for i, phase in enumerate(phases)
        ),
    )


def loa(probabilities: Iterable[float]) -> float:
    """Likelihood of approval: the product of phase transition probabilities.

    Parameters
    ----------
    probabilities : iterable of float
        Transition probabilities as fractions, each in (0, 1]; at least one.

    Returns
    -------
    float
        :math:`\\prod_i p_i`.

    Raises
    ------
    ValueError
        If there are none, or one is not a number in (0, 1] (the message names its index).

    Notes
    -----
    The probability that a compound entering the first phase is approved, assuming the phase
    outcomes are the published conditional transition rates.

    References
    ----------
    .. [1] Thomas D, Chancellor D, Micklus A et al. (2021). Clinical Development Success Rates and
       Contributing Factors 2011–2020. BIO, Informa Pharma Intelligence, QLS.

    Examples
    --------
    >>> round(loa([0.520, 0.289, 0.578, 0.906]), 4)
    0.0787
    """
    if isinstance(probabilities, np.ndarray):
        values: list[object] = probabilities.ravel().tolist()
    elif isinstance(probabilities, Iterable) and not isinstance(probabilities, str | bytes):
        values = list(probabilities)
    else:
        raise ValueError(f"probabilities = {probabilities!r} is not a sequence of numbers")
    if not values:
        raise ValueError("probabilities is empty; give at least one transition probability")
    checked = [_probability(f"probabilities[{i}]", value) for i, value in enumerate(values)]
    return float(np.prod(np.array(checked, dtype=np.float64)))
