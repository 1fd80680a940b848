"""Process chemistry (CDMO route optimisation): materials, routes, green metrics, cost of goods."""
