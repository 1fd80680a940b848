"""Clinical operations (CRO): studies, countries, sites and enrollment; the forecast engine in ``engine/``."""
