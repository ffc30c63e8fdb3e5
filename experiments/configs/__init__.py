"""Experiment configs (recipes): each starts from `audiodiff.defaults.get_config()`."""
