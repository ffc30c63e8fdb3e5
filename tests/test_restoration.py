"""Restoration: operators, baselines, metrics, and --mode=restore end to end
on a tiny prior of its own."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from audiodiff.audio import audio_io, filters
from audiodiff.metrics import audio_metrics
from audiodiff.errors import UserError
from audiodiff.restoration import (baselines, gap_bands, gap_envelope, operators, quiet_gate,
                                   restore)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 8000


def _settings(**overrides):
  from audiodiff import defaults
  settings = defaults.get_config().restore
  settings.update(overrides)
  return settings


def _tone(seconds=1.0, rate=RATE):
  t = np.arange(int(seconds * rate)) / rate
  return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 530 * t)
          + 0.1 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)


# Operators ------------------------------------------------------------------

def _operators(length=64):
  rng = np.random.default_rng(0)
  return [operators.TimeDiagonal(jnp.asarray(rng.uniform(size=length), jnp.float32)),
          operators.FourierDiagonal(jnp.asarray(rng.uniform(size=length // 2 + 1),
                                                jnp.float32), length)]


@pytest.mark.parametrize('op', _operators(), ids=['time', 'fourier'])
def test_linear_operators_are_symmetric_and_solve_exactly(op):
  rng = np.random.default_rng(1)
  x, v = (jnp.asarray(rng.normal(size=64), jnp.float32) for _ in range(2))
  assert jnp.dot(op(x), v) == pytest.approx(float(jnp.dot(x, op.adjoint(v))), rel=1e-5)
  # (A A^T + r I) solve(v, r) = v
  r = 0.3
  w = op.solve(v, r)
  np.testing.assert_allclose(op(op.adjoint(w)) + r * w, v, atol=1e-5)


def test_projections_are_idempotent_and_consistent():
  rng = np.random.default_rng(2)
  clean = jnp.asarray(rng.normal(size=64), jnp.float32)
  x = jnp.asarray(rng.normal(size=64), jnp.float32)
  mask = operators.TimeDiagonal(jnp.asarray(rng.uniform(size=64) > 0.3, jnp.float32))
  brick = operators.FourierDiagonal(
      jnp.asarray(operators.lowpass_response(64, RATE, 2000)), 64)
  for op in (mask, brick):
    y = op(clean)
    p = op.project(x, y)
    np.testing.assert_allclose(op(p), y, atol=1e-5)
    np.testing.assert_allclose(op.project(p, y), p, atol=1e-5)
  level = 0.5
  clip = operators.Clipping(level, jnp.asarray(operators.clipped_signs(
      np.clip(clean, -level, level), level)))
  y = clip(clean)
  p = clip.project(x, y)
  np.testing.assert_allclose(clip(p), y, atol=1e-6)
  np.testing.assert_allclose(clip.residual(clean, y), 0.0, atol=1e-6)


def test_a_filters_projection_leaves_its_stopband_to_the_prior():
  # A Butterworth recording model: where its gain is below -20 dB the
  # measurement says nothing the projection inverts (probe 45: the input's
  # own noise there came back 1000x, peaking at 4.25 from 0.5).
  length = 4096
  gain = filters.lowpass_gain(length, RATE, RATE / 4, 'butterworth')
  op = operators.FourierDiagonal(jnp.asarray(gain), length)
  rng = np.random.default_rng(3)
  y = jnp.asarray(_tone(length / RATE) + 0.01 * rng.normal(size=length), jnp.float32)
  projected = np.asarray(op.project(jnp.zeros(length), y))
  assert np.abs(projected).max() < 2 * np.abs(np.asarray(y)).max()
  # Where the filter passes (gain > 0.1) the projection still fits the measurement.
  measured = gain > 0.1
  np.testing.assert_allclose(np.fft.rfft(np.asarray(op(projected)))[measured],
                             np.fft.rfft(np.asarray(y))[measured], atol=1e-2)


def test_gap_weights_and_their_errors():
  weights = operators.gap_weights(100, [(0.02, 0.03)], 1000, taper_ms=4)
  assert np.all(weights[20:30] == 0) and np.all(weights[:16] == 1) and np.all(weights[34:] == 1)
  assert np.all(np.diff(weights[15:21]) <= 0) and np.all(0 < weights[16:20])
  assert operators.parse_gaps('1.2-1.3, 0.5-0.55') == [(0.5, 0.55), (1.2, 1.3)]
  with pytest.raises(UserError, match='START-END'):
    operators.parse_gaps('0.5')
  with pytest.raises(UserError, match='beyond the input'):
    operators.gap_weights(100, [(0.05, 0.2)], 1000)
  with pytest.raises(UserError, match='Nyquist'):
    operators.lowpass_response(64, RATE, 4000)


def test_clip_level_detection():
  clean = _tone()
  settings = _settings(task='declip', clip_level=0.0)
  assert restore.measure('declip', np.clip(clean, -0.2, 0.2), settings,
                         RATE).level == pytest.approx(0.2)
  with pytest.raises(UserError, match='No clipping detected'):
    restore.measure('declip', clean, settings, RATE)


def test_counting_at_a_level_in_blocks_equals_the_whole():
  y = np.zeros(5001, np.float32)
  y[1000] = 0.5             # a lone sample at the level: not on a plateau
  y[2998:3004] = -0.5       # a plateau of 6 across a block boundary
  y[4999:] = 0.5            # one of 2 at the end
  assert operators.count_at_level([y], 0.5) == (9, 8)
  assert operators.count_at_level([y[:1000], y[1000:1001], y[1001:3001], y[3001:]],
                                  0.5) == (9, 8)


# Metrics --------------------------------------------------------------------

def test_restoration_metrics_closed_forms():
  clean = _tone()
  weights = np.ones_like(clean)
  weights[100:200] = 0
  assert audio_metrics.gap_snr(clean, clean * weights, weights) == pytest.approx(0.0, abs=1e-6)
  assert audio_metrics.gap_snr(clean, clean + 0.1 * clean, weights) == pytest.approx(20.0, abs=1e-4)
  assert audio_metrics.sdr(clean, 0.9 * clean) == pytest.approx(20.0, abs=1e-4)
  assert audio_metrics.sdr_improvement(clean, 0.9 * clean, clean * 0.99) == pytest.approx(20.0,
                                                                                      abs=1e-4)
  noise = 0.1 * np.random.default_rng(0).normal(size=RATE).astype(np.float32)
  low = restore.degrade('bandwidth', noise, RATE, cutoff_hz=1000)
  assert audio_metrics.high_band_lsd(noise, noise, RATE, 1000) == pytest.approx(0.0, abs=1e-9)
  # The high band goes from about -20 dB per bin to the -80 dB floor.
  assert audio_metrics.high_band_lsd(noise, low, RATE, 1000) > 40
  assert audio_metrics.high_band_lsd(noise, low, RATE, 2000) > audio_metrics.log_spectral_distance(
      noise, low, n_fft=2048, hop_length=512) > 0


def test_listener_metrics_closed_forms():
  rng = np.random.default_rng(1)
  speech = np.concatenate([_tone(0.5), np.zeros(RATE // 2, np.float32)])  # speech, then silence
  # Hiss above 2 kHz in the silent half only: the active frames do not see it.
  hiss = 0.01 * rng.normal(size=len(speech)).astype(np.float32)
  hiss[:RATE // 2 + 1024] = 0
  hiss = hiss - restore.degrade('bandwidth', hiss, RATE, cutoff_hz=2000)
  noisy = speech + hiss
  assert audio_metrics.silent_high_band_excess(speech, speech, RATE, 2000) == pytest.approx(0.0)
  assert audio_metrics.silent_high_band_excess(speech, noisy, RATE, 2000) > 30
  everywhere = audio_metrics.high_band_lsd(speech, noisy, RATE, 2000)
  active = audio_metrics.high_band_lsd(speech, noisy, RATE, 2000, active_db=40)
  assert active < 0.25 * everywhere
  # In-gap log-spectral distance: 0 for a perfect fill, large for silence, nan without frames.
  weights = np.ones_like(speech)
  weights[1000:1400] = 0
  assert audio_metrics.gap_lsd(speech, speech, weights) == pytest.approx(0.0, abs=1e-6)
  assert audio_metrics.gap_lsd(speech, speech * weights, weights) > 40
  weights[:] = 1
  weights[1000:1010] = 0
  assert np.isnan(audio_metrics.gap_lsd(speech, speech * weights, weights))


# Baselines ------------------------------------------------------------------

def test_band_replication_keeps_the_band_and_fills_the_one_above():
  rng = np.random.default_rng(2)
  rate = 16000
  t = np.arange(rate) / rate
  voiced = sum(0.3 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 50))
  clean = (voiced + 0.01 * rng.normal(size=rate)).astype(np.float32)
  low = restore.degrade('bandwidth', clean, rate, cutoff_hz=4000)
  extended = baselines.band_replication(low, 4000, rate)
  assert extended.shape == low.shape
  response = operators.lowpass_response(len(low), rate, 4000)
  kept = np.fft.irfft(response * np.fft.rfft(extended), n=len(low))
  np.testing.assert_allclose(kept[512:-512], low[512:-512], atol=2e-3)
  # Closer to the true high band than the low-passed input, by a wide margin.
  assert (audio_metrics.high_band_lsd(clean, extended, rate, 4000)
          < audio_metrics.high_band_lsd(clean, low, rate, 4000) - 20)


def test_janssen_fills_a_gap_in_a_tonal_signal():
  clean = _tone()
  weights = operators.gap_weights(len(clean), [(0.5, 0.52)], RATE)
  filled = baselines.janssen_inpaint(clean * weights, weights)
  assert audio_metrics.gap_snr(clean, filled, weights) > 20
  np.testing.assert_array_equal(filled[weights > 0], (clean * weights)[weights > 0])


@pytest.mark.parametrize('gaps', [[(40, 70)], [(0, 25)], [(95, 120)], [(10, 14), (60, 90)]])
def test_janssen_least_squares_fill_is_the_dense_least_squares(gaps):
  """The banded normal equations against lstsq on the full prediction-error
  matrix B (B[t, t - k] = a[k], rows t < n): a gap inside, at either end, two."""
  rng = np.random.default_rng(0)
  n, order = 120, 24
  x = np.cumsum(rng.normal(size=n))
  missing = np.zeros(n, bool)
  for start, end in gaps:
    missing[start:end] = True
  a = baselines._ar_coefficients(x, order)
  band = sum(a[k] * np.eye(n, k=-k) for k in range(order + 1))
  expected = np.linalg.lstsq(band[:, missing], -band[:, ~missing] @ x[~missing], rcond=None)[0]
  np.testing.assert_allclose(baselines._least_squares_fill(x, missing, a), expected,
                             rtol=1e-8, atol=1e-8 * np.max(np.abs(expected)))


def test_aspade_improves_a_clipped_tone():
  clean = _tone(0.5)
  level = restore.clip_level_for_sdr(clean, 7.0)
  clipped = restore.degrade('declip', clean, RATE, clip_level=level)
  assert audio_metrics.sdr(clean, clipped) == pytest.approx(7.0, abs=0.01)
  signs = operators.clipped_signs(clipped, level)
  declipped = baselines.aspade_declip(clipped, level, signs)
  assert audio_metrics.sdr_improvement(clean, clipped, declipped) > 3
  reliable = signs == 0
  np.testing.assert_array_equal(declipped[reliable], clipped[reliable])


# The restorer on a Gaussian-process "prior" -----------------------------------

class _ToyTrained:
  """An api.Trained stand-in: the exact denoiser of white noise of std 0.1,
  a `window`-sample window, no network."""

  def __init__(self, method_config, window=256):
    from audiodiff.diffusion import schedules
    self.schedule = schedules.get_schedule(ml_collections.ConfigDict(dict(
        schedule='cosine', num_steps=50, cosine_offset=0.008, beta_start=1e-4,
        beta_end=0.02, sigmoid_start=-3.0, sigmoid_end=3.0, sigmoid_tau=1.0, betas=())))
    config = ml_collections.ConfigDict(dict(
        data=dict(segment_length=window), diffusion=dict(prediction='eps'),
        sampler=dict(name='ddim', num_steps=10, eta=0.0, grid='', guidance_scale=1.0,
                     clip_x0=False, temperature=1.0), restore=method_config))
    self.exp = self
    self.config = config
    self.params = {}
    self.task = self

  name = 'generate'

  def sample_request(self, batch):
    return ml_collections.ConfigDict(dict(cond=None, uncond=None))

  def apply_fn(self, params, x, t, cond):
    alpha, sigma = (v[:, None] for v in self.schedule.alpha_sigma_at(t))
    x0 = alpha * 0.01 / (alpha ** 2 * 0.01 + sigma ** 2) * x
    return (x - alpha * x0) / sigma

  def condition(self, params, cond):
    return cond


@pytest.mark.parametrize('task', ['inpaint', 'bandwidth', 'declip'])
def test_restorer_keeps_length_and_enforces_the_measurement(task):
  settings = _settings(task=task, gaps='0.10-0.11,0.5-0.51', cutoff_hz=1000, clip_level=0.3,
                       method='projection', batch_windows=3)
  clean = _tone(1.3)
  degraded = restore.degrade(task, clean, RATE, gaps=operators.parse_gaps(settings.gaps),
                             taper_ms=settings.taper_ms, cutoff_hz=1000, clip_level=0.3)
  measurement = restore.measure(task, degraded, settings, RATE)
  heard = []
  restored = restore.Restorer(_ToyTrained(settings), settings)(
      measurement, on_windows=lambda count, total: heard.append((count, total)))
  assert restored.shape == clean.shape and np.all(np.isfinite(restored))
  # Every window is reported once, a batch at a time.
  assert heard and sum(c for c, _ in heard) == heard[0][1] and all(c <= 3 for c, _ in heard)
  op = measurement.operator()
  degraded = jnp.asarray(measurement.degraded)
  residual = op.residual(jnp.asarray(restored), op(degraded))
  assert float(jnp.max(jnp.abs(residual))) < 1e-4
  if task == 'inpaint':   # tapers (1 ms at 8 kHz, both sides of both gaps) are
    taper = (measurement.weights > 0) & (measurement.weights < 1)  # cross-faded
    assert taper.sum() == 4 * 8
    assert not np.allclose(restored[taper], measurement.degraded[taper])


def test_measure_rejects_bad_settings():
  tone = _tone(0.5)
  with pytest.raises(UserError, match='beyond the input'):
    restore.measure('inpaint', tone, _settings(gaps='0.4-0.6'), RATE)
  with pytest.raises(UserError, match='Nyquist'):
    restore.measure('bandwidth', tone, _settings(cutoff_hz=4000), RATE)
  with pytest.raises(UserError, match="above the input's peak"):
    restore.measure('declip', tone, _settings(clip_level=0.9), RATE)
  with pytest.raises(UserError, match='No clipping detected'):
    restore.measure('declip', tone, _settings(), RATE)
  with pytest.raises(UserError, match='restore.task'):
    restore.measure('denoise', tone, _settings(), RATE)


def test_keep_measured_changes_only_what_was_missing_at_the_files_rate():
  original = _tone(0.5, 16000)
  rng = np.random.default_rng(0)
  restored = rng.standard_normal(4000).astype(np.float32)  # at the prior's 8 kHz
  clipped = np.clip(original, -0.3, 0.3)
  measurement = restore.measure('declip', np.clip(_tone(0.5, 8000), -0.3, 0.3),
                                _settings(clip_level=0.3), 8000)
  out = restore.keep_measured(measurement, restored, clipped, 16000)
  free = operators.clipped_signs(clipped, 0.3) == 0
  np.testing.assert_array_equal(out[free], clipped[free])
  assert np.all(out[~free] != clipped[~free])
  low_passed = restore.degrade('bandwidth', original, 16000, cutoff_hz=1000)
  measurement = restore.measure('bandwidth', low_passed[::2], _settings(
      task='bandwidth', cutoff_hz=1000), 8000)
  out = restore.keep_measured(measurement, restored, low_passed, 16000)
  response = operators.lowpass_response(len(out), 16000, 1000)
  band = np.fft.irfft(response * np.fft.rfft(out), n=len(out))
  np.testing.assert_allclose(band, low_passed, atol=1e-4)  # the measured band, kept
  assert np.sum((out - band) ** 2) > 0.1 * np.sum(band ** 2)  # the rest, restored


# --mode=restore end to end ----------------------------------------------------

def _main(*args):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'experiments', 'main.py'),
                         *args], capture_output=True, text=True, cwd=ROOT, check=False)


def test_restore_mode_end_to_end(tmp_path):
  workdir = str(tmp_path / 'prior')
  config = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  assert _main(f'--config={config}', f'--workdir={workdir}').returncode == 0
  clean = _tone(1.5, 16000)
  audio_io.save_audio(tmp_path / 'clean.wav', clean, 16000)   # another rate than the prior
  audio_io.save_audio(tmp_path / 'gappy.wav', clean, 16000)
  result = _main(f'--config={config}', f'--workdir={workdir}', '--mode=restore',
                 f'--input={tmp_path / "gappy.wav"}', f'--reference={tmp_path / "clean.wav"}',
                 "--config.restore.gaps=0.30-0.33,1.0-1.02", '--config.restore.method=pigdm')
  assert result.returncode == 0, result.stderr
  out_dir = os.path.join(workdir, 'samples', 'restored_inpaint_step_2')
  restored, rate = audio_io.read_audio(os.path.join(out_dir, 'gappy.wav'))
  assert rate == 16000 and restored.shape == (len(clean), 1)
  # The 8 kHz prior changes only the gaps of the 16 kHz file: every other
  # sample is the input's (to 16-bit rounding), its band above 4 kHz kept.
  t = np.arange(len(clean)) / 16000
  outside = (t < 0.29) | ((t > 0.34) & (t < 0.99)) | (t > 1.03)
  np.testing.assert_allclose(restored[outside, 0], clean[outside], atol=2e-4)
  assert np.max(np.abs(restored[~outside, 0] - clean[~outside])) > 1e-3  # the gaps are new
  assert os.path.exists(os.path.join(out_dir, 'gappy.png'))
  with open(os.path.join(out_dir, 'gappy.json')) as f:
    assert set(json.load(f)) == {'gap_snr_db', 'input_gap_snr_db', 'gap_lsd_db', 'si_sdr_db'}
  result = _main(f'--config={config}', f'--workdir={workdir}', '--mode=restore',
                 f'--input={tmp_path / "gappy.wav"}', "--config.restore.gaps=1.4-1.6")
  assert result.returncode == 2
  assert result.stderr.strip().startswith('error:') and 'beyond the input' in result.stderr


def test_shipped_speech_prior_extends_bandwidth():
  """pretrained/speech_prior_cpu, 5 solver steps, on 0.6 s of a harmonic tone
  low-passed at 2 kHz: the output keeps the measured band exactly and puts
  energy back above the cutoff."""
  import audiodiff
  from audiodiff.run import experiment
  directory = os.path.join(ROOT, 'pretrained', 'speech_prior_cpu')
  config = experiment.read_config(directory)
  config.sampler.num_steps = 5
  trained = audiodiff.load(directory, config)
  rate = trained.sample_rate
  t = np.arange(int(0.6 * rate)) / rate
  clean = sum(0.05 / k * np.sin(2 * np.pi * 180 * k * t) for k in range(1, 30))
  settings = _settings(task='bandwidth', cutoff_hz=2000, method='projection')
  degraded = restore.degrade('bandwidth', clean, rate, cutoff_hz=2000)
  measurement = restore.measure('bandwidth', degraded, settings, rate)
  restored = restore.Restorer(trained, settings)(measurement)
  response = operators.lowpass_response(len(clean), rate, 2000)
  low = np.fft.irfft(response * np.fft.rfft(restored), n=len(clean))
  np.testing.assert_allclose(low, degraded, atol=1e-4)
  high_energy = np.sum((restored - low) ** 2)
  assert high_energy > 1e-3 * np.sum(degraded ** 2)


def test_a_start_from_the_baseline_stays_near_it_at_a_low_level():
  """SDEdit (config.restore.start='baseline'): started at 2% of the trained
  steps, the fill stays close to Janssen's; from noise it does not."""
  settings = _settings(task='inpaint', gaps='0.300-0.305', method='projection',
                       start='baseline', start_level=0.02)
  degraded = restore.degrade('inpaint', _tone(1.0), RATE, gaps=operators.parse_gaps(settings.gaps),
                             taper_ms=settings.taper_ms)
  measurement = restore.measure('inpaint', degraded, settings, RATE)
  janssen = restore.run_baseline(measurement)
  gap = measurement.weights < 1
  distance = lambda x: np.sqrt(np.mean((x[gap] - janssen[gap]) ** 2) / np.mean(janssen[gap] ** 2))
  restorer = restore.Restorer(_ToyTrained(settings), settings)
  assert restorer.sampler.num_evals < 25  # the sampler's steps cut short too
  near = restorer(measurement)
  far = restore.Restorer(_ToyTrained(settings), _settings(
      task='inpaint', gaps='0.300-0.305', method='projection'))(measurement)
  assert distance(near) < 0.3 < distance(far)
  for bad, match in ((dict(start='janssen'), "must be 'noise' or 'baseline'"),
                     (dict(start_level=0.0), r'in \(0, 1\]')):
    with pytest.raises(UserError, match=match):
      restore.Restorer(_ToyTrained(settings), _settings(method='projection', start='baseline',
                                                        **bad) if 'start_level' in bad
                       else _settings(method='projection', **bad))


def test_only_gaps_of_refine_min_gap_ms_and_more_leave_the_baselines_fill():
  """refine_min_gap_ms: a 5 ms gap keeps Janssen's fill to the bit and costs
  no window; a 12 ms gap is refined by the prior (SDEdit from that fill)."""
  gaps = '0.200-0.205,0.600-0.612'
  settings = _settings(task='inpaint', gaps=gaps, method='projection', start='baseline',
                       start_level=0.3, refine_min_gap_ms=10.0)
  degraded = restore.degrade('inpaint', _tone(1.0), RATE, gaps=operators.parse_gaps(gaps),
                             taper_ms=settings.taper_ms)
  measurement = restore.measure('inpaint', degraded, settings, RATE)
  janssen = restore.run_baseline(measurement)
  short, long = np.zeros(len(degraded), bool), np.zeros(len(degraded), bool)
  short[1600:1640], long[4800:4896] = True, True
  assert np.all(measurement.weights[short | long] == 0)
  windows = []
  refined = restore.Restorer(_ToyTrained(settings), settings)(
      measurement, on_windows=lambda done, total: windows.append(total))
  np.testing.assert_array_equal(refined[short], janssen[short])
  assert np.max(np.abs(refined[long] - janssen[long])) > 1e-3
  assert windows == [1]
  assert restore.Restorer(_ToyTrained(settings), settings).summary == (
      "projection from the baseline at 0.3 in gaps of 10 ms and more, the baseline's fill in "
      'shorter ones, 3 network passes a window')
  every = restore.Restorer(_ToyTrained(settings), _settings(
      task='inpaint', gaps=gaps, method='projection', start='baseline', start_level=0.3))
  assert np.max(np.abs(every(measurement)[short] - janssen[short])) > 1e-3


def test_start_order_sets_the_fill_the_prior_starts_from_and_short_gaps_keep_janssens():
  """start_order: the long gap is refined from a Janssen fill of that AR order
  (another result than from Janssen's own), the short gap keeps Janssen's own."""
  gaps = '0.200-0.205,0.600-0.612'
  common = dict(task='inpaint', gaps=gaps, method='projection', start='baseline',
                start_level=0.3, refine_min_gap_ms=10.0)
  settings = _settings(start_order=32, **common)
  degraded = restore.degrade('inpaint', _tone(1.0), RATE, gaps=operators.parse_gaps(gaps),
                             taper_ms=settings.taper_ms)
  measurement = restore.measure('inpaint', degraded, settings, RATE)
  short, long = np.zeros(len(degraded), bool), np.zeros(len(degraded), bool)
  short[1600:1640], long[4800:4896] = True, True
  assert np.max(np.abs(restore.run_baseline(measurement, 32)[long]
                       - restore.run_baseline(measurement)[long])) > 1e-3
  low = restore.Restorer(_ToyTrained(settings), settings)
  own = restore.Restorer(_ToyTrained(settings), _settings(**common))
  from_low, from_own = low(measurement), own(measurement)
  np.testing.assert_array_equal(from_low[short], restore.run_baseline(measurement)[short])
  assert np.max(np.abs(from_low[long] - from_own[long])) > 1e-3
  assert low.summary.startswith('projection from the baseline (AR order 32) at 0.3 in gaps')
  with pytest.raises(UserError, match=r'start_order=5000 must lie in \[0, 2048\]'):
    restore.Restorer(_ToyTrained(settings), _settings(start_order=5000, **common))


def test_gap_bands_take_each_band_from_its_fill_and_turn_the_low_band_down_mid_gap():
  """combine: in a gap, the quiet fill's band below the cutoff (times the
  center profile) plus the detailed fill's band above; elsewhere the
  detailed fill. Tones on whole cycles, so the brick-wall bands are exact."""
  n, rate = 8000, RATE
  t = np.arange(n) / rate
  low_tone, high_tone = np.sin(2 * np.pi * 100 * t), np.sin(2 * np.pi * 2000 * t)
  quiet, detailed = low_tone + 0.5 * high_tone, 0.3 * low_tone + high_tone
  gap = np.zeros(n, bool)
  gap[3000:3800] = True
  kept = gap_bands.combine(quiet, detailed, gap, rate, low_band_hz=500, center_gain=1.0)
  np.testing.assert_allclose(kept[gap], (low_tone + high_tone)[gap], atol=1e-9)
  np.testing.assert_array_equal(kept[~gap], detailed[~gap])
  turned = gap_bands.combine(quiet, detailed, gap, rate, low_band_hz=500, center_gain=0.25)
  profile = gap_bands.center_profile(800, 0.25, rate)     # 100 ms
  np.testing.assert_allclose(turned[gap], profile * low_tone[gap] + high_tone[gap], atol=1e-9)
  hold, full = (int(ms * rate / 1000) for ms in (gap_bands.HOLD_MS,
                                                 gap_bands.HOLD_MS + gap_bands.RAMP_MS))
  np.testing.assert_allclose(profile[:hold], 1.0)          # the first 10 ms kept
  np.testing.assert_allclose(profile[full:800 - full], 0.25)
  assert np.all(np.diff(profile[:400]) <= 1e-12) and np.all(profile >= 0.25 - 1e-12)
  np.testing.assert_allclose(profile, profile[::-1])
  np.testing.assert_allclose(gap_bands.center_profile(2 * hold, 0.25, rate), 1.0)   # 20 ms


def test_the_low_band_from_the_quiet_fill_and_the_high_band_from_janssens_own_order():
  """low_band_hz with a start_order: two refinements (the network passes
  double), combined by gap_bands in the long gap; the short gap keeps
  Janssen's fill; center_gain needs low_band_hz."""
  gaps = '0.200-0.230,0.600-0.650'
  common = dict(task='inpaint', gaps=gaps, method='projection', start='baseline',
                start_level=0.3, refine_min_gap_ms=40.0, start_order=32,
                taper_ms=0.0)   # no cross-fade into the input (restore.enforce)
  settings = _settings(low_band_hz=500.0, center_gain=0.5, **common)
  degraded = restore.degrade('inpaint', _tone(1.0), RATE, gaps=operators.parse_gaps(gaps),
                             taper_ms=settings.taper_ms)
  measurement = restore.measure('inpaint', degraded, settings, RATE)
  by_band = restore.Restorer(_ToyTrained(settings, window=1024), settings)
  quiet = restore.Restorer(_ToyTrained(settings, window=1024), _settings(**common))
  detailed = restore.Restorer(_ToyTrained(settings, window=1024), _settings(
      **dict(common, start_order=0)))
  assert by_band.num_evals == 2 * quiet.num_evals
  assert by_band.summary == ('projection from the baseline (AR order 32) at 0.3 (above 500 Hz '
                             'from its own order; below 500 Hz x0.5 past 20 ms in) in gaps of 40 '
                             'ms and more, the baseline\'s fill in shorter ones, 6 network '
                             'passes a window')
  result, from_quiet = by_band(measurement), quiet(measurement)
  from_detailed = detailed(measurement, key=jax.random.fold_in(jax.random.PRNGKey(0), 1))
  short, long = np.zeros(len(degraded), bool), np.zeros(len(degraded), bool)
  short[1600:1840], long[4800:5200] = True, True
  np.testing.assert_array_equal(result[short], restore.run_baseline(measurement)[short])
  refined = (measurement.weights < 1) & ~short
  expected = gap_bands.combine(from_quiet, from_detailed, refined, RATE, 500.0, 0.5)
  np.testing.assert_allclose(result[long], expected[long], atol=1e-5)
  assert np.max(np.abs(result[long] - from_quiet[long])) > 1e-3
  with pytest.raises(UserError, match='center_gain=0.5 turns down the band below '
                     'config.restore.low_band_hz, which is 0'):
    restore.Restorer(_ToyTrained(settings, window=1024), _settings(center_gain=0.5, **common))
  with pytest.raises(UserError, match='low_band_hz=5000 is not below the Nyquist'):
    restore.Restorer(_ToyTrained(settings, window=1024),
                     _settings(low_band_hz=5000.0, **common))(measurement)


def test_gap_envelope_puts_a_faded_fills_upper_bands_on_the_line_between_its_neighbours():
  """follow_envelope: a fill whose band above 1 kHz fades to -20 dB inside a
  gap gets, mid-gap, the band energy on the dB line between the frames either
  side (here 0 dB before, -12 dB after: -6 dB); the 300 Hz tone and every
  sample outside the gap stay as they were."""
  rate, n = 16000, 16000
  rng = np.random.default_rng(0)
  noise = rng.standard_normal(n)
  high = gap_bands.lowpass(noise, rate, 8000.0) - gap_bands.lowpass(noise, rate, 1200.0)
  level = np.where(np.arange(n) < 8000, 1.0, 0.25)           # -12 dB after the gap's middle
  gap = np.zeros(n, bool)
  gap[7600:8400] = True                                      # 50 ms
  fill = np.sin(2 * np.pi * 300 * np.arange(n) / rate) + level * high * np.where(gap, 0.1, 1.0)
  shaped = gap_envelope.follow_envelope(fill, gap, rate, envelope_hz=1000.0)
  np.testing.assert_array_equal(shaped[~gap], fill[~gap])
  np.testing.assert_allclose(gap_bands.lowpass(shaped, rate, 800.0)[gap],
                             gap_bands.lowpass(fill, rate, 800.0)[gap], atol=0.02)
  band = lambda x, a, b: np.mean((gap_bands.lowpass(x, rate, 8000.0)
                                  - gap_bands.lowpass(x, rate, 1200.0))[a:b] ** 2)
  before, after = band(fill, 7000, 7500), band(fill, 8500, 9000)
  middle = band(shaped, 7900, 8100)
  assert abs(10 * np.log10(middle / np.sqrt(before * after))) < 1.5
  assert band(fill, 7900, 8100) < 0.05 * middle              # it was 20 dB down
  np.testing.assert_array_equal(gap_envelope.band_index(np.array([500.0, 1000.0, 1600.0, 7000.0]),
                                                        1000.0), [-1, 0, 1, 5])


def test_the_default_recipe_shapes_janssens_fill_of_the_short_gaps_only():
  """envelope_hz: the short gap keeps Janssen's fill shaped by follow_envelope;
  the long gap is refined as without it; it needs refine_min_gap_ms."""
  gaps = '0.200-0.205,0.600-0.612'
  common = dict(task='inpaint', gaps=gaps, method='projection', start='baseline',
                start_level=0.3, refine_min_gap_ms=10.0, taper_ms=0.0)
  settings = _settings(envelope_hz=1000.0, **common)
  hiss = 0.05 * np.random.default_rng(0).standard_normal(RATE)   # no AR model predicts it
  degraded = restore.degrade('inpaint', _tone(1.0) + hiss.astype(np.float32), RATE,
                             gaps=operators.parse_gaps(gaps), taper_ms=0.0)
  measurement = restore.measure('inpaint', degraded, settings, RATE)
  shaped = restore.Restorer(_ToyTrained(settings), settings)
  plain = restore.Restorer(_ToyTrained(settings), _settings(**common))
  short, long = np.zeros(len(degraded), bool), np.zeros(len(degraded), bool)
  short[1600:1640], long[4800:4896] = True, True
  janssen = restore.run_baseline(measurement)
  expected = gap_envelope.follow_envelope(janssen, short, RATE, 1000.0)
  result = shaped(measurement)
  np.testing.assert_allclose(result[short], expected[short], atol=1e-6)
  assert np.max(np.abs(result[short] - janssen[short])) > 1e-3
  np.testing.assert_array_equal(result[long], plain(measurement)[long])
  assert 'shorter ones (above 1000 Hz on the envelope around each)' in shaped.summary
  with pytest.raises(UserError, match='envelope_hz=1000 shapes the fill of the gaps shorter '
                     'than config.restore.refine_min_gap_ms, which is 0'):
    restore.Restorer(_ToyTrained(settings), _settings(
        envelope_hz=1000.0, **dict(common, refine_min_gap_ms=0.0)))


def test_the_default_recipe_and_a_setting_it_would_override():
  """method='' is the task's DEFAULT_RECIPE; a recipe setting changed beside
  it is refused by name (it would be overridden)."""
  settings = restore.resolved(_settings(task='inpaint'))
  assert (settings.method, settings.start, settings.start_level, settings.refine_min_gap_ms,
          settings.start_order, settings.low_band_hz, settings.center_gain,
          settings.envelope_hz) == ('projection', 'baseline', 0.02, 100.0, 192, 500.0, 0.5, 1000.0)
  assert restore.resolved(_settings(task='declip')).method == 'baseline'
  named = _settings(task='inpaint', method='projection', start_level=0.05)
  assert restore.resolved(named) is named
  with pytest.raises(UserError, match=r"start_level is set by the default recipe for "
                     r"task='inpaint'.*--config.restore.method=projection"):
    restore.resolved(_settings(task='inpaint', start_level=0.05))


def test_the_quiet_gate_fades_the_added_band_only_where_the_input_is_silent():
  rate, n = 16000, 16000
  t = np.arange(n) / rate
  rng = np.random.default_rng(0)
  loud = np.where(t < 0.5, 1.0, 1e-4)                  # a pause 80 dB down after 0.5 s
  low = loud * 0.3 * np.sin(2 * np.pi * 300 * t)
  added = 0.05 * restore.degrade('bandwidth', rng.standard_normal(n), rate, cutoff_hz=4000)
  added = added - restore.degrade('bandwidth', added, rate, cutoff_hz=4000)   # above 4 kHz
  gated = quiet_gate.gate_added_band(low + added, low, rate, 4000, gate_db=40)
  speech, pause = slice(1000, 7000), slice(9000, 15000)
  np.testing.assert_allclose(gated[speech], (low + added)[speech], atol=1e-6)
  assert np.sqrt(np.mean(gated[pause] ** 2)) < 1e-3 * np.sqrt(np.mean(added[pause] ** 2)) + 1e-4
  gains = quiet_gate.frame_gains(low, rate, 4000, 40)
  assert gains.max() == 1 and gains.min() == 0
  short = low[:10]   # shorter than the gate's frame
  assert quiet_gate.gate_added_band(short, short, rate, 4000, 40).shape == (10,)
