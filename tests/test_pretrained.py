"""The shipped models under pretrained/ load and run right after install."""

import glob
import os

import numpy as np
import pytest

import audiodiff

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, 'pretrained', '*',
                                                                    'params.msgpack')))


def test_pretrained_models_are_shipped_within_20_mb():
  assert EXPORTS, 'no exported model under pretrained/'
  for directory in EXPORTS:
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory)
               if os.path.isfile(os.path.join(directory, f)))
    assert size <= 20 * 2**20, (directory, size)


@pytest.mark.parametrize('directory', EXPORTS, ids=os.path.basename)
def test_pretrained_model_runs(directory):
  model = audiodiff.load(directory)
  if 'vocode' in model.task.api_methods:
    t = np.arange(model.sample_rate // 2) / model.sample_rate
    audio = model.vocode(audio=(0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert audio.shape == (len(t) // model.config.audio.hop_length
                           * model.config.audio.hop_length,)
  else:
    audio, request = model.sample(1)
    assert audio.shape == request.shape
  assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 1e-3
