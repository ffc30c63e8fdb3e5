"""Experiment configs: `from experiments.configs import base`."""
