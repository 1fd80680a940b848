"""Pure numerics of the economics capability (NumPy/SciPy only; nothing above it)."""
