"""Datasets (TFDS builders, no TensorFlow) and the Grain input pipeline."""

from audiodiff.data.pipeline import class_names
from audiodiff.data.pipeline import example_batch
from audiodiff.data.pipeline import get_dataset
from audiodiff.data.pipeline import load_utterances
from audiodiff.data.pipeline import make_global_batch
from audiodiff.data.pipeline import num_classes
from audiodiff.data.pipeline import stores
