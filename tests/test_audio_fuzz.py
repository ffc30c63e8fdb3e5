"""Property-based fuzzing of the audio loader: whatever the file holds, the
outcome is clean mono float32 audio or the project's own error naming it."""

import io
import os
import struct
import tempfile

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings, strategies as st

from audiodiff.audio import audio_io

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes):
  with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, 'fuzzed.wav')
    with open(path, 'wb') as f:
      f.write(data)
    try:
      audio = audio_io.load_audio(path, 16000)
    except audio_io.AudioFileError as error:
      assert 'fuzzed.wav' in str(error)
      return
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0
    assert np.all(np.isfinite(audio))


def _wav(samples, rate, subtype):
  buffer = io.BytesIO()
  sf.write(buffer, samples, rate, subtype=subtype, format='WAV')
  return buffer.getvalue()


@_SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes(data):
  _check(data)


@_SETTINGS
@given(samples=st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True),
                        min_size=0, max_size=300),
       channels=st.integers(1, 3),
       rate=st.sampled_from([1, 100, 999, 8000, 44100, 384000, 400000]),
       cut=st.integers(0, 64))
def test_float_wavs_with_extreme_values_rates_and_truncation(samples, channels, rate, cut):
  frames = np.asarray(samples, np.float32)[:len(samples) // channels * channels]
  data = _wav(frames.reshape(-1, channels), rate, 'FLOAT') if len(frames) else _wav(
      np.zeros((0, channels), np.float32), 8000, 'FLOAT')
  _check(data[:len(data) - cut] if cut else data)


@_SETTINGS
@given(rate=st.integers(0, 2**32 - 1), channels=st.integers(0, 70),
       bits=st.sampled_from([0, 8, 16, 24, 32, 64]), payload=st.binary(max_size=512))
def test_absurd_pcm_headers(rate, channels, bits, payload):
  block = max(channels * bits // 8, 0)
  header = (b'RIFF' + struct.pack('<I', 36 + len(payload)) + b'WAVEfmt '
            + struct.pack('<IHHIIHH', 16, 1, channels, rate, (rate * block) & 0xFFFFFFFF,
                          block & 0xFFFF, bits)
            + b'data' + struct.pack('<I', len(payload)))
  _check(header + payload)
