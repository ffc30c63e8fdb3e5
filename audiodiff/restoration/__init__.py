"""Training-free restoration with any trained prior (README, "Restoration").

operators.py  measurements: gaps, low-pass filters, clipping
posterior.py  posterior sampling as sampler hooks: projection, DPS, Pi-GDM, RePaint
baselines.py  classical methods in numpy: Janssen AR, low-passed input, A-SPADE
restore.py    recordings of any length: windows, batches, the final projection
"""
