"""Manufacturing (CMO/CDMO): products, plant, production orders, campaign scheduling.

Only the scheduling engine (:mod:`.engine`) and ``opencxo mfg solve-instance`` exist so far.
"""
