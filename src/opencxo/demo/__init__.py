"""The demo world: a fictional cast of sponsors and providers, loaded by ``opencxo demo load``."""
