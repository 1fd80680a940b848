"""Pure numerics of the clinical capability (NumPy/SciPy only; nothing above it).

:mod:`.fit` estimates the Poisson–gamma recruitment model from per-site counts and exposures;
:mod:`.forecast` forecasts enrollment (Monte Carlo and analytic) with disruptions.
"""
