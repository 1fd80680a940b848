"""Economics: cost per approved drug, risk-adjusted NPV with the patent cliff, outsourcing and
portfolio decisions. Pure numerics live in ``engine/``; scenarios, reference data and the
interfaces sit on top."""
