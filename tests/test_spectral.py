"""STFT / mel / Griffin-Lim tests against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff import defaults
from audiodiff.audio import spectral

# Small enough for fast CPU tests, same shape of parameters as config.audio.
SMALL_AUDIO = dict(sample_rate=16000, n_fft=512, hop_length=128,
                   win_length=512, n_mels=40, f_min=20.0, f_max=8000.0)


def base_audio_config():
  return defaults.get_config().audio


def harmonic_tone(num_samples, sample_rate, f0=220.0, num_harmonics=8):
  """float32 [L]: decaying harmonics with a slow tremolo, peak < 0.5."""
  t = np.arange(num_samples) / sample_rate
  x = sum(np.sin(2 * np.pi * f0 * k * t) / k
          for k in range(1, num_harmonics + 1) if f0 * k < sample_rate / 2)
  x *= 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
  return (0.15 * x).astype(np.float32)


@pytest.mark.parametrize('n_fft,hop_length,win_length',
                         [(1024, 256, 1024), (512, 100, 400), (1024, 300, 800)])
def test_stft_istft_round_trip(n_fft, hop_length, win_length):
  audio = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32)
  spec = spectral.stft(audio, n_fft, hop_length, win_length)
  frames = 4000 // hop_length
  assert spec.shape == (2, frames, n_fft // 2 + 1)
  rebuilt = np.asarray(spectral.istft(spec, n_fft, hop_length, win_length))
  assert rebuilt.shape == (2, frames * hop_length)
  interior = slice(n_fft, frames * hop_length - n_fft)
  np.testing.assert_allclose(rebuilt[:, interior], audio[:, interior],
                             atol=1e-4)


def test_istft_length_argument_pads_or_trims():
  spec = spectral.stft(np.ones((1, 1000), np.float32), 256, 64)
  assert spectral.istft(spec, 256, 64, length=900).shape == (1, 900)
  assert spectral.istft(spec, 256, 64, length=1000).shape == (1, 1000)


def test_stft_of_bin_centred_sine_has_closed_form_peak():
  # A sine on bin k under a periodic Hann of n_fft taps: |X[k]| = A n_fft / 4.
  n_fft, hop_length, k, amplitude = 512, 128, 40, 0.7
  n = np.arange(4096)
  audio = amplitude * np.sin(2 * np.pi * k * n / n_fft)
  magnitude = np.abs(np.asarray(spectral.stft(audio[None], n_fft, hop_length)))
  interior = magnitude[0, 4:-4]
  assert np.all(interior.argmax(-1) == k)
  np.testing.assert_allclose(interior[:, k], amplitude * n_fft / 4, rtol=1e-4)


def test_slaney_mel_scale_closed_form():
  assert spectral.hz_to_mel(1000.0) == pytest.approx(15.0)
  assert spectral.hz_to_mel(6400.0) == pytest.approx(42.0)  # 27 mel per x6.4
  assert spectral.hz_to_mel(500.0) == pytest.approx(7.5)    # 200/3 Hz per mel
  hz = np.array([0.0, 20.0, 999.0, 1000.0, 4321.0, 11025.0])
  np.testing.assert_allclose(spectral.mel_to_hz(spectral.hz_to_mel(hz)), hz,
                             rtol=1e-10, atol=1e-9)


def test_mel_filterbank_is_area_normalised_triangles():
  sample_rate, n_fft, n_mels, f_min, f_max = 16000, 2048, 40, 20.0, 8000.0
  fb = spectral.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
  assert fb.shape == (n_fft // 2 + 1, n_mels)
  bin_hz = sample_rate / n_fft
  fft_hz = np.arange(n_fft // 2 + 1) * bin_hz
  edges = spectral.mel_band_edges(n_mels, f_min, f_max)
  np.testing.assert_allclose(
      edges[[0, -1]], [f_min, f_max], rtol=1e-9)
  np.testing.assert_allclose(np.diff(spectral.hz_to_mel(edges)),
                             np.diff(spectral.hz_to_mel(edges))[0], rtol=1e-9)
  heights = 2.0 / (edges[2:] - edges[:-2])
  for m in range(n_mels):
    lower, centre, upper = edges[m:m + 3]
    column = fb[:, m]
    support = column > 0
    assert np.all((fft_hz[support] > lower) & (fft_hz[support] < upper))
    # Closed-form triangle: rises linearly to `heights[m]` at the centre.
    triangle = heights[m] * np.clip(np.minimum(
        (fft_hz - lower) / (centre - lower),
        (upper - fft_hz) / (upper - centre)), 0.0, None)
    np.testing.assert_allclose(column, triangle, rtol=1e-5, atol=1e-8)
    assert abs(fft_hz[column.argmax()] - centre) <= bin_hz
    # Unit area (in Hz), up to the Riemann sum over ~10+ bins.
    assert column.sum() * bin_hz == pytest.approx(1.0, rel=0.05)
  # Without the area scaling the triangles sum to 1 between first and last
  # centre (neighbouring filters cross at half height).
  unscaled = fb / heights[None, :]
  inside = (fft_hz >= edges[1]) & (fft_hz <= edges[-2])
  np.testing.assert_allclose(unscaled[inside].sum(-1), 1.0, atol=1e-4)


def test_mel_filterbank_clamps_f_max_to_nyquist():
  fb = spectral.mel_filterbank(8000, 512, 40, 20.0, 11025.0)
  np.testing.assert_allclose(
      fb, spectral.mel_filterbank(8000, 512, 40, 20.0, 4000.0))


@pytest.mark.parametrize('frequency', [300.0, 1000.0, 2500.0, 6000.0])
def test_sine_peaks_in_the_mel_band_containing_it(frequency):
  mel = spectral.mel_from_config(base_audio_config())
  t = np.arange(8192) / mel.sample_rate
  audio = 0.3 * np.sin(2 * np.pi * frequency * t)[None]
  peak_band = np.asarray(mel.linear_mel(audio))[0].mean(0).argmax()
  edges = spectral.mel_band_edges(mel.n_mels, mel.f_min, mel.f_max)
  assert edges[peak_band] < frequency < edges[peak_band + 2]


@pytest.mark.parametrize('sample_rate', [8000, 16000, 22050])
@pytest.mark.parametrize('hop_length', [64, 100, 256, 300])
def test_log_mel_shape_and_range(sample_rate, hop_length):
  config = base_audio_config()
  config.sample_rate = sample_rate
  config.hop_length = hop_length
  config.f_max = sample_rate / 2
  num_samples = sample_rate // 4 + 37      # not a multiple of the hop
  t = np.arange(num_samples) / sample_rate
  loud = np.sin(2 * np.pi * 440.0 * t)
  audio = np.stack([loud, np.zeros_like(loud)]).astype(np.float32)
  log_mel = np.asarray(spectral.log_mel(audio, config))
  assert log_mel.shape == (2, num_samples // hop_length, config.n_mels)
  assert log_mel.min() >= 0.0 and log_mel.max() <= 1.0
  assert log_mel[0].max() > 0.9 and log_mel[1].max() == 0.0


def test_mel_frames_times_hop_is_the_audio_length():
  mel = spectral.mel_from_config(SMALL_AUDIO)
  audio = np.zeros((1, 50 * mel.hop_length), np.float32)
  assert mel(audio).shape[1] * mel.hop_length == audio.shape[1]
  assert mel.num_frames(audio.shape[1]) == 50


def test_log_mel_jits_once_per_shape():
  mel = spectral.mel_from_config(SMALL_AUDIO)
  traces = []

  @jax.jit
  def features(audio):
    traces.append(None)
    return mel(audio)

  audio = jnp.zeros((2, 2048))
  features(audio).block_until_ready()
  features(audio + 1.0).block_until_ready()
  assert len(traces) == 1


def test_decompress_inverts_compress_inside_the_range():
  mel = jnp.asarray([1e-4, 3e-4, 0.01, 1.0, 9.0])
  np.testing.assert_allclose(
      spectral.decompress_mel(spectral.compress_mel(mel)), mel, rtol=1e-4)
  # DiffWave's constants: 20 log10(mel) - 20 dB in [-100, 0] maps to [0, 1],
  # i.e. mel 1e-4 -> 0 and 10 -> 1; anything quieter or louder is clipped.
  np.testing.assert_allclose(
      spectral.compress_mel(jnp.asarray([1e-5, 1e-4, 10.0, 100.0])),
      [0.0, 0.0, 1.0, 1.0], atol=1e-6)


def test_griffin_lim_reproduces_the_log_mel():
  mel = spectral.mel_from_config(SMALL_AUDIO)
  audio = harmonic_tone(8192, mel.sample_rate)[None]
  target = mel(audio)
  rebuilt = spectral.griffin_lim(target, SMALL_AUDIO, num_iters=32)
  assert rebuilt.shape == (1, target.shape[1] * mel.hop_length)
  error = float(jnp.abs(mel(rebuilt) - target).mean())
  noise = np.random.default_rng(0).standard_normal(audio.shape) * audio.std()
  noise_error = float(jnp.abs(mel(noise.astype(np.float32)) - target).mean())
  assert error < 0.03
  assert error < 0.2 * noise_error


@pytest.mark.parametrize('n_fft, hop', [(1024, 256), (512, 128), (400, 160), (8, 8)])
def test_framing_and_overlap_add_equal_their_index_forms(n_fft, hop):
  rng = np.random.default_rng(0)
  count = 7
  padded = rng.standard_normal((2, (count - 1) * hop + n_fft + 5)).astype(np.float32)
  idx = spectral._frame_indices(count, n_fft, hop)  # pylint: disable=protected-access
  frames = spectral._frames(jnp.asarray(padded), count, n_fft, hop)  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(frames), padded[:, idx])
  expected = np.zeros((2, (count - 1) * hop + n_fft), np.float64)
  for f in range(count):
    expected[:, f * hop:f * hop + n_fft] += padded[:, idx[f]]
  added = spectral._overlap_add(frames, hop)  # pylint: disable=protected-access
  np.testing.assert_allclose(np.asarray(added), expected, atol=1e-5)
