"""Inputs of the program valuation (rNPV) model: distributions, phases, revenue, exclusivity.

Every input is a frozen dataclass validated at construction; an invalid value raises
:class:`InputError` (a :class:`ValueError`) naming the argument, the value and the bound. The
simulation itself lives in :mod:`opencxo.economics.engine.rnpv`.

Units are in the names: ``_years`` (years from the valuation date, or a length in years),
``_musd`` (millions of US dollars, nominal), ``_share`` / ``_rate`` / ``_probability`` (fractions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_HORIZON_YEARS",
    "MAX_PHASES",
    "Exclusivity",
    "FloatArray",
    "InputError",
    "Phase",
    "ProgramScenario",
    "Revenue",
    "Triangular",
    "fixed",
]

FloatArray = npt.NDArray[np.float64]

MAX_PHASES = 20
MAX_HORIZON_YEARS = 100
MAX_YEARS_TO_PEAK = 50.0
MAX_SHAPE = 200.0
#: Below this steepness the logistic uptake is replaced by its limit, a straight line: the
#: logistic's integral is a difference of near-equal terms over ~s²/4 and loses precision as s
#: falls (8e-7 relative at s = 6e-5), while the line is off by ~s²/15. Measured against
#: 50-digit arithmetic the two errors meet near s = 2e-4, both below 1e-9 relative.
LINEAR_SHAPE = 2e-4


class InputError(ValueError):
    """An invalid model input.

    Parameters
    ----------
    argument
        The offending argument, e.g. ``"success_probability"``.
    value
        The value received.
    bound
        The rule it breaks, e.g. ``"must be in [0, 1]"``.
    context
        Where the argument sits, e.g. ``"Phase 'Phase II'"``; empty for a top-level argument.

    Examples
    --------
    >>> str(InputError("tax_rate", 1.5, "must be in [0, 1]", "ProgramScenario"))
    'ProgramScenario: tax_rate = 1.5 must be in [0, 1]'
    """

    def __init__(self, argument: str, value: object, bound: str, context: str = "") -> None:
        self.argument = argument
        self.value = value
        self.bound = bound
        self.context = context
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}{argument} = {value!r} {bound}")


def real(argument: str, value: object, context: str = "") -> float:
    """``value`` as a finite float, or an :class:`InputError` naming ``argument``."""
    if isinstance(value, bool) or not isinstance(value, Real | np.integer | np.floating):
        raise InputError(argument, value, "must be a real number", context)
    number = float(value)
    if not math.isfinite(number):
        raise InputError(argument, value, "must be finite", context)
    return number


def bounded(
    argument: str,
    value: object,
    context: str = "",
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> float:
    """``value`` as a finite float within the given bounds, else an :class:`InputError`."""
    number = real(argument, value, context)
    if ge is not None and not number >= ge:
        raise InputError(argument, value, f"must be >= {ge:g}", context)
    if gt is not None and not number > gt:
        raise InputError(argument, value, f"must be > {gt:g}", context)
    if le is not None and not number <= le:
        raise InputError(argument, value, f"must be <= {le:g}", context)
    if lt is not None and not number < lt:
        raise InputError(argument, value, f"must be < {lt:g}", context)
    return number


def fraction(argument: str, value: object, context: str = "") -> float:
    """``value`` as a float in [0, 1], else an :class:`InputError`."""
    number = real(argument, value, context)
    if not 0.0 <= number <= 1.0:
        raise InputError(argument, value, "must be in [0, 1]", context)
    return number


@dataclass(frozen=True)
class Triangular:
    """A triangular distribution on ``[low, high]`` with its peak at ``mode``.

    The unit is that of the field holding it (``duration_years``, ``cost_musd``, ...).
    ``low == mode == high`` is a fixed value (see :func:`fixed`).

    Parameters
    ----------
    low, mode, high
        Minimum, most likely value and maximum; ``low <= mode <= high``, all finite.

    Raises
    ------
    InputError
        A non-finite value or ``low <= mode <= high`` violated.

    Notes
    -----
    Sampled by inversion so that one standard uniform ``u`` maps to one value (the basis of the
    common random numbers), with :math:`f = (m-a)/(b-a)`:

    .. math::
        Q(u) = a + \\sqrt{u (b-a)(m-a)} \\quad (u < f), \\qquad
        Q(u) = b - \\sqrt{(1-u)(b-a)(b-m)} \\quad (u \\ge f).

    The mean is :math:`(a+m+b)/3`. :math:`Q` commutes with scaling and shifting, so
    ``scaled(c).quantile(u) == c * quantile(u)`` for every ``u``.

    References
    ----------
    Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions*, vol. 2, 2nd ed.,
    Wiley 1995, ch. 26.

    Examples
    --------
    >>> import numpy as np
    >>> Triangular(1.0, 2.0, 4.0).quantile(np.array([0.0, 1 / 3, 1.0])).round(6).tolist()
    [1.0, 2.0, 4.0]
    >>> fixed(3.0).mean
    3.0
    """

    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        low = real("low", self.low, "Triangular")
        mode = real("mode", self.mode, "Triangular")
        high = real("high", self.high, "Triangular")
        if mode < low:
            raise InputError("mode", mode, f"must be >= low = {low:g}", "Triangular")
        if high < mode:
            raise InputError("high", high, f"must be >= mode = {mode:g}", "Triangular")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "high", high)

    @classmethod
    def fixed(cls, value: float) -> Triangular:
        """A degenerate distribution at ``value``."""
        return cls(value, value, value)

    @property
    def is_fixed(self) -> bool:
        """True when the distribution is a single value."""
        return self.low == self.high

    @property
    def mean(self) -> float:
        """The mean ``(low + mode + high) / 3``."""
        if self.is_fixed:
            return self.low
        return (self.low + self.mode + self.high) / 3.0

    def quantile(self, u: FloatArray) -> FloatArray:
        """Inverse CDF at the standard uniforms ``u`` (values in [0, 1])."""
        low, mode, high = self.low, self.mode, self.high
        if high == low:
            return np.full(u.shape, low)
        span = high - low
        if mode == high:
            return low + np.sqrt(u * (span * (mode - low)))
        if mode == low:
            return high - np.sqrt((1.0 - u) * (span * (high - mode)))
        left = low + np.sqrt(u * (span * (mode - low)))
        right = high - np.sqrt((1.0 - u) * (span * (high - mode)))
        return np.where(u < (mode - low) / span, left, right)

    def scaled(self, factor: float) -> Triangular:
        """Every value multiplied by ``factor`` (>= 0)."""
        factor = bounded("factor", factor, "Triangular.scaled", ge=0.0)
        return Triangular(self.low * factor, self.mode * factor, self.high * factor)

    def shifted(self, delta: float) -> Triangular:
        """Every value plus ``delta``."""
        delta = real("delta", delta, "Triangular.shifted")
        if self.is_fixed:
            return Triangular.fixed(self.low + delta)
        return Triangular(self.low + delta, self.mode + delta, self.high + delta)


def fixed(value: float) -> Triangular:
    """A fixed value as a (degenerate) :class:`Triangular`.

    Examples
    --------
    >>> fixed(2.5)
    Triangular(low=2.5, mode=2.5, high=2.5)
    """
    return Triangular.fixed(value)


@dataclass(frozen=True, kw_only=True)
class Phase:
    """One development phase (a clinical phase, or the regulatory review).

    Parameters
    ----------
    name
        Label, e.g. ``"Phase II"``.
    success_probability
        Probability of moving on from this phase (for the last phase: of approval), in [0, 1].
        With ``success_concentration`` it is the mean of a Beta distribution.
    success_concentration
        ``alpha + beta`` of a Beta distribution with mean ``success_probability`` (> 0; larger
        is tighter: the standard deviation is ``sqrt(p (1 - p) / (1 + concentration))``).
        ``None`` (default) keeps the probability fixed. Ignored when the probability is 0 or 1.
    duration_years
        Length of the phase in years; ``low > 0``.
    cost_musd
        Total out-of-pocket cost of the phase in $M, spent evenly over its duration; ``low >= 0``.
    start_delay_years
        Idle time before the phase starts (e.g. a hand-off between vendors), without cost;
        ``>= 0``, default 0.

    Raises
    ------
    InputError
        An argument outside its bound; the message names the argument, value and bound.

    Notes
    -----
    With a Beta distribution the per-trial probability is
    :math:`p_i \\sim \\mathrm{Beta}(\\kappa \\bar p, \\kappa (1-\\bar p))`, and the trial succeeds
    when :math:`V < p_i` for a second uniform :math:`V`. Within one program the marginal success
    probability is still :math:`\\bar p`; the Beta spread shows in the epistemic interval of the
    probability of approval (``approval_probability_p05/p95`` of the result).

    Examples
    --------
    >>> Phase(name="Phase II", success_probability=0.289,
    ...       duration_years=Triangular(2.5, 3.6, 5.0), cost_musd=Triangular(40, 60, 90)).name
    'Phase II'
    """

    name: str
    success_probability: float
    duration_years: Triangular
    cost_musd: Triangular
    success_concentration: float | None = None
    start_delay_years: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError("name", self.name, "must be a non-empty string", "Phase")
        context = f"Phase {self.name!r}"
        object.__setattr__(
            self,
            "success_probability",
            fraction("success_probability", self.success_probability, context),
        )
        if self.success_concentration is not None:
            object.__setattr__(
                self,
                "success_concentration",
                bounded("success_concentration", self.success_concentration, context, gt=0.0),
            )
        if not isinstance(self.duration_years, Triangular):
            raise InputError("duration_years", self.duration_years, "must be a Triangular", context)
        if not self.duration_years.low > 0.0:
            raise InputError(
                "duration_years", self.duration_years, "must have low > 0 years", context
            )
        if not isinstance(self.cost_musd, Triangular):
            raise InputError("cost_musd", self.cost_musd, "must be a Triangular", context)
        if not self.cost_musd.low >= 0.0:
            raise InputError("cost_musd", self.cost_musd, "must have low >= 0 $M", context)
        object.__setattr__(
            self,
            "start_delay_years",
            bounded("start_delay_years", self.start_delay_years, context, ge=0.0),
        )

    @property
    def is_beta(self) -> bool:
        """True when the success probability is Beta-distributed (and not 0 or 1)."""
        return self.success_concentration is not None and 0.0 < self.success_probability < 1.0

    @property
    def beta_parameters(self) -> tuple[float, float]:
        """``(alpha, beta)`` of the success-probability distribution (requires ``is_beta``)."""
        if self.success_concentration is None:
            raise InputError(
                "success_concentration", None, "must be set for a Beta distribution", self.name
            )
        p, kappa = self.success_probability, self.success_concentration
        return kappa * p, kappa * (1.0 - p)


@dataclass(frozen=True, kw_only=True)
class Revenue:
    """Sales after launch: an S-shaped uptake to peak, then a plateau.

    Parameters
    ----------
    peak_sales_musd
        Annual sales at peak, $M/year; ``low >= 0``.
    years_to_peak
        Years from launch to peak sales, in (0, 50].
    shape
        Steepness of the logistic uptake, dimensionless, in [0, 200]; 0 is a straight line,
        about 6 a typical S-curve, large values approach a step at half of ``years_to_peak``.

    Raises
    ------
    InputError
        An argument outside its bound.

    Notes
    -----
    With :math:`T` = ``years_to_peak``, :math:`s` = ``shape``, :math:`\\sigma` the logistic
    function and :math:`\\ell_0 = \\sigma(-s/2)`, the fraction of peak reached :math:`\\tau`
    years after launch is the logistic curve rescaled to run from 0 at launch to 1 at peak:

    .. math::
        g(\\tau) = \\frac{\\sigma\\left(s(\\tau/T - 1/2)\\right) - \\ell_0}{1 - 2\\ell_0}
        \\quad (0 \\le \\tau \\le T), \\qquad g(\\tau) = 1 \\quad (\\tau > T),

    and :math:`g(\\tau) = \\tau/T` in the limit :math:`s \\to 0`. Its integral (cumulative sales
    in peak-years), used to bucket sales exactly into calendar years, is

    .. math::
        G(\\tau) = \\frac{(T/s)\\left[\\mathrm{sp}(s(\\tau/T - 1/2)) - \\mathrm{sp}(-s/2)\\right]
        - \\tau \\ell_0}{1 - 2\\ell_0}, \\qquad G(T) = T/2,

    with :math:`\\mathrm{sp}(z) = \\log(1 + e^z)`, and :math:`G(\\tau) = T/2 + (\\tau - T)` after
    the peak.

    References
    ----------
    Bass, F. M. (1969). A new product growth for model consumer durables. *Management Science*
    15(5), 215-227 (the logistic is the Bass curve without innovators).

    Examples
    --------
    >>> import numpy as np
    >>> r = Revenue(peak_sales_musd=fixed(1000.0), years_to_peak=6.0, shape=6.0)
    >>> r.uptake(np.array([0.0, 3.0, 6.0, 9.0])).round(6).tolist()
    [0.0, 0.5, 1.0, 1.0]
    >>> round(float(r.cumulative_uptake_years(np.array([6.0]))[0]), 12)
    3.0
    """

    peak_sales_musd: Triangular
    years_to_peak: float
    shape: float = 6.0

    def __post_init__(self) -> None:
        if not isinstance(self.peak_sales_musd, Triangular):
            raise InputError(
                "peak_sales_musd", self.peak_sales_musd, "must be a Triangular", "Revenue"
            )
        if not self.peak_sales_musd.low >= 0.0:
            raise InputError(
                "peak_sales_musd", self.peak_sales_musd, "must have low >= 0 $M", "Revenue"
            )
        object.__setattr__(
            self,
            "years_to_peak",
            bounded("years_to_peak", self.years_to_peak, "Revenue", gt=0.0, le=MAX_YEARS_TO_PEAK),
        )
        object.__setattr__(
            self, "shape", bounded("shape", self.shape, "Revenue", ge=0.0, le=MAX_SHAPE)
        )

    def _logistic_constants(self) -> tuple[float, float, float]:
        """``(l0, 1 - 2 l0, softplus(-s/2))`` of the rescaled logistic."""
        half = self.shape / 2.0
        l0 = 1.0 / (1.0 + math.exp(half))
        return l0, math.tanh(half / 2.0), math.log1p(math.exp(-half))

    def uptake(self, tau_years: FloatArray) -> FloatArray:
        """Fraction of peak sales :math:`g(\\tau)` reached ``tau_years`` (>= 0) after launch."""
        t = self.years_to_peak
        tc = np.minimum(tau_years, t)
        if self.shape < LINEAR_SHAPE:
            return tc / t
        l0, span, _ = self._logistic_constants()
        z = self.shape * (tc / t - 0.5)
        return (1.0 / (1.0 + np.exp(-z)) - l0) / span

    def cumulative_uptake_years(self, tau_years: FloatArray) -> FloatArray:
        """Sales in peak-years from launch to ``tau_years`` (>= 0) after it, :math:`G(\\tau)`."""
        t = self.years_to_peak
        tc = np.minimum(tau_years, t)
        after = tau_years - tc
        if self.shape < LINEAR_SHAPE:
            return tc * tc / (2.0 * t) + after
        s = self.shape
        l0, span, sp0 = self._logistic_constants()
        z = s * (tc / t - 0.5)
        softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
        return ((t / s) * (softplus - sp0) - tc * l0) / span + after


@dataclass(frozen=True, kw_only=True)
class Exclusivity:
    """Loss of exclusivity (the patent cliff) and the erosion of sales after it.

    Parameters
    ----------
    loss_years_from_now
        Patent expiry (or end of regulatory exclusivity) in years from the valuation date, >= 0.
    extension_years
        Extra protection (patent-term extension, SPC, paediatric), years, >= 0; default 0.
    erosion
        Fraction of the pre-loss sales level kept in year 1, 2, ... after loss of exclusivity;
        each in [0, 1], non-increasing; the last value is held to the horizon. E.g. a small
        molecule ``(0.2, 0.1, 0.05)``, a biologic ``(0.7, 0.55, 0.45)``.

    Raises
    ------
    InputError
        An argument outside its bound, an empty or increasing ``erosion``.

    Notes
    -----
    Protection ends at :math:`Z = ` ``loss_years_from_now + extension_years``. Erosion starts at
    :math:`X = \\max(L, Z)` for a launch at :math:`L`, so a later launch leaves fewer protected
    years and a launch after :math:`Z` none. A non-increasing curve makes value fall whenever
    exclusivity ends earlier.

    References
    ----------
    Grabowski, H., Long, G., Mortimer, R., Bilginsoy, M. (2021). Continuing trends in U.S. brand-
    name and generic drug competition. *J. Med. Econ.* 24(1), 908-917. IQVIA Institute (2023).
    *Biosimilars in the United States 2023-2027*.

    Examples
    --------
    >>> Exclusivity(loss_years_from_now=14.0, extension_years=1.5, erosion=(0.2, 0.1)).protected_until_years
    15.5
    """

    loss_years_from_now: float
    erosion: tuple[float, ...]
    extension_years: float = 0.0

    def __post_init__(self) -> None:
        context = "Exclusivity"
        object.__setattr__(
            self,
            "loss_years_from_now",
            bounded("loss_years_from_now", self.loss_years_from_now, context, ge=0.0),
        )
        object.__setattr__(
            self,
            "extension_years",
            bounded("extension_years", self.extension_years, context, ge=0.0),
        )
        try:
            values = tuple(self.erosion)
        except TypeError:
            raise InputError(
                "erosion", self.erosion, "must be a sequence of fractions", context
            ) from None
        if not values:
            raise InputError("erosion", self.erosion, "must hold at least one fraction", context)
        checked = tuple(fraction(f"erosion[{i}]", v, context) for i, v in enumerate(values))
        for i in range(1, len(checked)):
            if checked[i] > checked[i - 1]:
                raise InputError(
                    f"erosion[{i}]",
                    values[i],
                    f"must be <= erosion[{i - 1}] = {checked[i - 1]:g} (non-increasing)",
                    context,
                )
        object.__setattr__(self, "erosion", checked)

    @property
    def protected_until_years(self) -> float:
        """End of protection, years from now: ``loss_years_from_now + extension_years``."""
        return self.loss_years_from_now + self.extension_years


@dataclass(frozen=True, kw_only=True)
class ProgramScenario:
    """One drug program from its current phase to the horizon.

    Parameters
    ----------
    phases
        The remaining phases in order, the current one first and the regulatory review last
        (1 to 20).
    revenue
        Sales curve after launch.
    exclusivity
        Loss of exclusivity and erosion.
    cogs_share
        Cost of goods (and other sales-proportional costs: royalties, distribution) as a share
        of sales, in [0, 1].
    tax_rate
        Tax on operating profit, in [0, 1].
    discount_rate
        Annual discount rate (cost of capital), in [0, 1].
    horizon_years
        Whole years valued from now; cash flows after it are ignored; 1 to 100.
    launch_cost_musd
        One-off cost at launch (approved trials only), $M, >= 0; default 0.
    name
        Label; default empty.

    Raises
    ------
    InputError
        An argument outside its bound.

    Examples
    --------
    >>> s = ProgramScenario(
    ...     phases=(Phase(name="NDA", success_probability=0.9, duration_years=fixed(1.0),
    ...                   cost_musd=fixed(5.0)),),
    ...     revenue=Revenue(peak_sales_musd=fixed(500.0), years_to_peak=5.0),
    ...     exclusivity=Exclusivity(loss_years_from_now=12.0, erosion=(0.2,)),
    ...     cogs_share=0.15, tax_rate=0.21, discount_rate=0.1, horizon_years=20)
    >>> s.analytic_probability_of_approval
    0.9
    """

    phases: tuple[Phase, ...]
    revenue: Revenue
    exclusivity: Exclusivity
    cogs_share: float
    tax_rate: float
    discount_rate: float
    horizon_years: int
    launch_cost_musd: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        context = "ProgramScenario"
        try:
            phases = tuple(self.phases)
        except TypeError:
            raise InputError(
                "phases", self.phases, "must be a sequence of Phase", context
            ) from None
        if not 1 <= len(phases) <= MAX_PHASES:
            raise InputError("phases", len(phases), f"must hold 1 to {MAX_PHASES} phases", context)
        for i, phase in enumerate(phases):
            if not isinstance(phase, Phase):
                raise InputError(f"phases[{i}]", phase, "must be a Phase", context)
        object.__setattr__(self, "phases", phases)
        if not isinstance(self.revenue, Revenue):
            raise InputError("revenue", self.revenue, "must be a Revenue", context)
        if not isinstance(self.exclusivity, Exclusivity):
            raise InputError("exclusivity", self.exclusivity, "must be an Exclusivity", context)
        object.__setattr__(self, "cogs_share", fraction("cogs_share", self.cogs_share, context))
        object.__setattr__(self, "tax_rate", fraction("tax_rate", self.tax_rate, context))
        object.__setattr__(
            self, "discount_rate", fraction("discount_rate", self.discount_rate, context)
        )
        horizon = self.horizon_years
        if (
            isinstance(horizon, bool)
            or not isinstance(horizon, int | np.integer)
            or not 1 <= horizon <= MAX_HORIZON_YEARS
        ):
            raise InputError(
                "horizon_years",
                horizon,
                f"must be a whole number of years in [1, {MAX_HORIZON_YEARS}]",
                context,
            )
        object.__setattr__(self, "horizon_years", int(horizon))
        object.__setattr__(
            self,
            "launch_cost_musd",
            bounded("launch_cost_musd", self.launch_cost_musd, context, ge=0.0),
        )
        if not isinstance(self.name, str):
            raise InputError("name", self.name, "must be a string", context)

    @property
    def analytic_probability_of_approval(self) -> float:
        """Product of the phases' (mean) success probabilities."""
        return math.prod(phase.success_probability for phase in self.phases)

    @property
    def after_tax_margin(self) -> float:
        """``(1 - cogs_share) * (1 - tax_rate)``: after-tax operating cash per $ of sales."""
        return (1.0 - self.cogs_share) * (1.0 - self.tax_rate)
