"""Speech enhancement: the STFT features, the mean-reverting SDE, noise mixing
under resume, paired folders, and train -> enhance -> eval -> export end to
end on a tiny config (espeak-ng renders its speech; skipped without it)."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import soundfile as sf

from experiments.configs import enhance_tiny, tiny

from audiodiff import tasks
from audiodiff.run import api, train
from audiodiff.audio import audio_io
from audiodiff.diffusion import process, samplers, schedules, sde
from audiodiff.data import noise, pipeline
from audiodiff.enhancement import losses
from audiodiff.enhancement.representation import StftFeatures
from audiodiff.errors import UserError
from audiodiff.metrics import audio_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, 'experiments', 'main.py')


# ---- the representation -------------------------------------------------------

def test_stft_features_round_trip_exactly():
  features = StftFeatures(n_fft=256, hop_length=64)
  rng = np.random.default_rng(0)
  audio = (rng.normal(size=(2, 64 * 30)) * np.array([[0.3], [0.003]])).astype(np.float32)
  audio[1, 500:900] = 0.0  # exact zeros: phase undefined, must stay zero
  x = features.to_features(audio)
  assert x.shape == (2, 30, 2 * 129) and x.dtype == jnp.float32
  np.testing.assert_allclose(features.to_audio(x), audio, atol=2e-6)
  # Compression: magnitude m -> 0.15 m**0.5, phase kept.
  spec = jnp.asarray([3.0 + 4.0j, 0.0, -1e-3j])
  compressed = features.compress(spec)
  np.testing.assert_allclose(jnp.abs(compressed), 0.15 * jnp.abs(spec)**0.5, rtol=1e-5)
  np.testing.assert_allclose(jnp.angle(compressed[0]), jnp.angle(spec[0]), rtol=1e-5)
  np.testing.assert_allclose(features.decompress(compressed), spec, rtol=1e-4, atol=1e-9)
  assert features.pad_length(65) == 128 and features.pad_length(128) == 128


def test_clipwise_wiener_features_remove_stationary_noise_and_ignore_padding():
  features = StftFeatures()
  rng = np.random.default_rng(0)
  t = np.arange(16384) / 16000
  tone = (0.05 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
  noisy = tone + 0.02 * rng.standard_normal(len(t)).astype(np.float32)
  def filtered(audio):
    return np.asarray(features.to_audio(features.wiener_features(audio[None])))[0]
  gain = audio_metrics.si_sdr(tone, filtered(noisy)) - audio_metrics.si_sdr(tone, noisy)
  assert gain > 6.0, gain
  # Zero padding (the last window of a long file) leaves the noise floor of
  # the frames that hold signal: as much noise comes off.
  padded = np.concatenate([noisy, np.zeros(8192, np.float32)])
  padded_gain = (audio_metrics.si_sdr(tone, filtered(padded)[:len(tone)])
                 - audio_metrics.si_sdr(tone, noisy))
  assert abs(padded_gain - gain) < 0.5, (padded_gain, gain)


# ---- the SDE ------------------------------------------------------------------

def _schedule():
  return schedules.get_schedule(ml_collections.ConfigDict(dict(
      schedule='cosine', num_steps=50, cosine_offset=0.008, beta_start=1e-4, beta_end=0.02,
      sigmoid_start=-3.0, sigmoid_end=3.0, sigmoid_tau=1.0, betas=())))


def test_discrete_forward_process_has_the_closed_form_marginal():
  """Iterating forward_step from x_0 reaches N(alpha x0 + (1 - alpha) y,
  s^2 sigma^2) at every step: the distribution the samplers invert."""
  schedule, scale, n = _schedule(), 0.5, 40000
  x0, y = jnp.full((n, 1), 0.8), jnp.full((n, 1), -0.3)
  x, key = x0, jax.random.PRNGKey(0)
  for t in range(schedule.num_steps):
    x = sde.forward_step(x, y, jnp.full((n,), schedule.betas[t]), scale,
                         jax.random.normal(jax.random.fold_in(key, t), x.shape))
    if t in (5, 25, 49):
      alpha, sigma = schedule.alpha_sigma_at(jnp.full((n,), float(t)))
      mean, std = sde.marginal(x0, y, alpha, sigma, scale)
      assert abs(float(jnp.mean(x)) - float(mean[0, 0])) < 4 * float(std[0, 0]) / n**0.5
      assert abs(float(jnp.std(x)) / float(std[0, 0]) - 1) < 0.02
  # At the last step the process has forgotten x_0: it is the prior N(y, s^2).
  assert abs(float(jnp.mean(x)) - (-0.3)) < 0.01 and abs(float(jnp.std(x)) - scale) < 0.01


def test_marginal_equals_the_prior_coordinates_of_q_sample():
  """z = (x - y) / s diffuses exactly as the variance-preserving process of
  process.q_sample, so samplers run the SDE through samplers.Prior."""
  schedule, scale = _schedule(), 0.5
  x0 = jax.random.normal(jax.random.PRNGKey(1), (3, 7))
  y = jax.random.normal(jax.random.PRNGKey(2), (3, 7))
  eps = jax.random.normal(jax.random.PRNGKey(3), (3, 7))
  t = jnp.array([0.0, 17.0, 49.0])
  prior = sde.prior(y, scale)
  x_t = prior.to_data(process.q_sample(schedule, prior.to_diffusion(x0), t, eps))
  alpha, sigma = schedule.alpha_sigma_at(t)
  mean, std = sde.marginal(x0, y, alpha, sigma, scale)
  np.testing.assert_allclose(x_t, mean + std * eps, atol=1e-5)
  assert isinstance(prior, samplers.Prior)


def test_continuous_sde_matches_the_marginal_with_constant_beta():
  """Euler-Maruyama on dx = 1/2 beta (y - x) dt + s sqrt(beta) dw, beta
  constant: alpha(t) = exp(-beta t / 2), variance s^2 (1 - alpha^2)."""
  beta, scale, n, steps, horizon = 3.0, 0.4, 20000, 400, 1.0
  dt = horizon / steps
  x = jnp.full((n,), 1.0)
  y = jnp.full((n,), 0.2)
  for i in range(steps):
    noise_ = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(4), i), (n,))
    x = x + sde.drift(x, y, beta) * dt + sde.diffusion_coefficient(beta, scale) * dt**0.5 * noise_
  alpha = np.exp(-beta * horizon / 2)
  mean, std = sde.marginal(jnp.ones(1), jnp.full((1,), 0.2), alpha, (1 - alpha**2)**0.5, scale)
  assert abs(float(jnp.mean(x)) - float(mean[0])) < 0.01
  assert abs(float(jnp.std(x)) / float(std[0]) - 1) < 0.03


# ---- noise mixing in the pipeline ---------------------------------------------

@pytest.fixture(scope='module')
def notes_config(tmp_path_factory):
  config = tiny.get_config()
  config.data.data_dir = str(tmp_path_factory.mktemp('tfds'))
  config.data.segment_length = 1000
  config.data.num_examples = 16
  config.train.batch_size = 4
  return config


def test_mixing_is_deterministic_under_resume(notes_config):
  pool = tuple(pipeline.load_utterances(notes_config, 'train', 4))
  mix = noise.MixNoise(noise_types=('pink', 'babble', 'music', 'reverb'), snr_range=(-5, 20),
                       sample_rate=notes_config.audio.sample_rate, pool=pool)
  dataset = lambda: pipeline.get_dataset(notes_config, 'train', features=('audio', 'noisy'),
                                         transforms=(mix,))
  iterator = iter(dataset())
  first = [next(iterator) for _ in range(3)]
  assert set(first[0]) == {'audio', 'noisy'} and first[0]['noisy'].shape == (4, 1000)
  assert not np.allclose(first[0]['noisy'], first[0]['audio'])
  state = iterator.get_state()
  expected = [next(iterator) for _ in range(5)]  # crosses the epoch boundary
  resumed = iter(dataset())
  resumed.set_state(state)
  for a, b in zip(expected, [next(resumed) for _ in range(5)]):
    np.testing.assert_array_equal(a['noisy'], b['noisy'])
    np.testing.assert_array_equal(a['audio'], b['audio'])
  again = iter(dataset())
  np.testing.assert_array_equal(next(again)['noisy'], first[0]['noisy'])


def test_paired_audio_folder(tmp_path):
  rng = np.random.default_rng(0)
  for name in ('a', 'b', 'c'):
    clean = (0.1 * np.sin(np.arange(4000) * 0.05)).astype(np.float32)
    for sub, audio in (('clean', clean), ('noisy', clean + 0.01 * rng.normal(size=4000))):
      os.makedirs(tmp_path / 'vb' / sub, exist_ok=True)
      sf.write(tmp_path / 'vb' / sub / f'{name}.wav', audio, 8000, subtype='FLOAT')
  config = tiny.get_config()
  config.data.name, config.data.folder = 'audio_folder', str(tmp_path / 'vb')
  config.data.data_dir = str(tmp_path / 'tfds')
  config.data.segment_length, config.data.normalize = 3000, 'none'
  config.train.batch_size = 2
  assert pipeline.stores(config, 'noisy')
  batch = next(iter(pipeline.get_dataset(config, 'train', features=('audio', 'noisy'))))
  difference = batch['noisy'] - batch['audio']
  assert 0.005 < float(np.std(difference)) < 0.02  # aligned: only the added noise
  os.remove(tmp_path / 'vb' / 'noisy' / 'c.wav')
  config.data.data_dir = str(tmp_path / 'tfds2')
  with pytest.raises(UserError, match='no noisy/ file of the same name'):
    pipeline.get_dataset(config, 'train', features=('audio', 'noisy'))


# ---- the task -----------------------------------------------------------------

def test_config_errors_name_the_fix():
  config = enhance_tiny.get_config()
  config.enhance.method = 'storm'
  with pytest.raises(UserError, match='enhance.predictor'):
    tasks.get_task(config)
  config = enhance_tiny.get_config()
  config.enhance.test_voices = config.data.voices
  with pytest.raises(UserError, match='held-out set must be held out'):
    tasks.get_task(config)
  config = enhance_tiny.get_config()
  config.enhance.method = 'sgmse+'
  with pytest.raises(UserError, match="choose one of \\('storm', 'sgmse', 'predictive'\\)"):
    tasks.get_task(config)
  config = enhance_tiny.get_config()
  config.enhance.si_sdr_weight = 1e-5
  config.enhance.method, config.enhance.predictor = 'storm', 'somewhere'
  with pytest.raises(UserError, match="si_sdr_weight=1e-05.*'predictive' only"):
    tasks.get_task(config)


def test_negative_si_sdr_matches_its_closed_form_and_the_metric():
  rng = np.random.default_rng(0)
  reference = rng.standard_normal((3, 4000))
  reference -= reference.mean(axis=-1, keepdims=True)
  residual = rng.standard_normal((3, 4000))
  residual -= residual.mean(axis=-1, keepdims=True)
  residual -= (np.sum(residual * reference, -1) / np.sum(reference**2, -1))[:, None] * reference
  # |0.3 reference|^2 / |residual|^2 = 10^(db / 10) by construction.
  db = np.array([-3.0, 7.0, 20.0])
  residual *= np.sqrt(np.sum((0.3 * reference)**2, -1) / 10**(db / 10)
                      / np.sum(residual**2, -1))[:, None]
  estimate = 0.3 * reference + residual + 0.01  # an offset: both are made zero-mean
  loss = np.asarray(losses.negative_si_sdr(jnp.asarray(reference), jnp.asarray(estimate)))
  np.testing.assert_allclose(loss, -db, atol=1e-3)
  for ref, est, value in zip(reference, estimate, loss):
    assert abs(audio_metrics.si_sdr(ref, est) + value) < 1e-3



@pytest.fixture(scope='module')
def trained_runs(tmp_path_factory, asterisk_sounds, espeak_ng):
  """A tiny predictive run and a tiny StoRM refiner on top of it."""
  del asterisk_sounds  # held out: the recorded speaker june
  root = tmp_path_factory.mktemp('enhance')
  data_dir = str(root / 'tfds')
  predictive = enhance_tiny.get_config()
  predictive.data.data_dir = data_dir
  predictive.enhance.wiener_input = True  # storm then conditions it on the Wiener channel too
  predictive.enhance.si_sdr_weight = 1e-5
  train.train_and_evaluate(predictive, str(root / 'predictive'))
  storm = enhance_tiny.get_config()
  storm.data.data_dir = data_dir
  storm.enhance.method = 'storm'
  storm.enhance.predictor = str(root / 'predictive')
  train.train_and_evaluate(storm, str(root / 'storm'))
  return root


def _speechlike(seconds, rate=16000):
  t = np.arange(int(seconds * rate)) / rate
  voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
  return (0.05 * voiced * (np.sin(2 * np.pi * 3 * t) > -0.3)).astype(np.float32)


def test_sgmse_trains_and_enhances_any_length(trained_runs):
  config = enhance_tiny.get_config()
  config.data.data_dir = str(trained_runs / 'tfds')
  config.enhance.method = 'sgmse'
  config.train.num_steps = 2
  workdir = str(trained_runs / 'sgmse')
  train.train_and_evaluate(config, workdir)
  model = api.load(workdir)
  noisy = noise.degrade(_speechlike(0.77), np.random.default_rng(0), 'white', 5.0, 16000)
  enhanced = model.enhance(noisy)
  assert enhanced.shape == noisy.shape and np.all(np.isfinite(enhanced))
  assert model.exp.sampler.num_evals == 3


def _main(*args):
  return subprocess.run([sys.executable, MAIN, *args], capture_output=True, text=True,
                        cwd=ROOT, check=False)


def test_enhance_eval_export_end_to_end(trained_runs, tmp_path):
  storm = str(trained_runs / 'storm')
  noisy = noise.degrade(_speechlike(1.3), np.random.default_rng(1), 'babble', 0.0, 16000,
                        pool=(_speechlike(2.0),))
  audio_io.save_audio(tmp_path / 'in' / 'one.wav', noisy, 16000)
  # Stereo at another rate: converted, with a message, kept at its rate and length.
  stereo = np.stack([noisy, 0.5 * noisy], axis=1)[:20000]
  sf.write(tmp_path / 'in' / 'two.wav', stereo, 22050)
  export = str(tmp_path / 'export')
  assert _main(f'--workdir={storm}', '--mode=export', f'--output={export}').returncode == 0
  assert os.path.exists(os.path.join(export, 'predictor', 'params.msgpack'))
  with open(os.path.join(export, 'config.json')) as f:
    assert json.load(f)['enhance']['predictor'] == 'predictor'
  result = _main(f'--workdir={export}', '--mode=enhance', f'--input={tmp_path / "in"}')
  assert result.returncode == 0, result.stderr
  assert '2 channels, enhanced as their mean' in result.stdout
  out = os.path.join(export, 'samples', 'enhanced_step_4')
  one, rate = audio_io.read_audio(os.path.join(out, 'one.wav'))
  assert rate == 16000 and one.shape == (len(noisy), 1)
  two, rate = audio_io.read_audio(os.path.join(out, 'two.wav'))
  assert rate == 22050 and two.shape == (20000, 1)
  assert os.path.exists(os.path.join(out, 'one.png'))
  # The exported model and the training run give the same enhancement.
  np.testing.assert_allclose(api.load(export).enhance(noisy), api.load(storm).enhance(noisy),
                             atol=1e-5)

  # Bad inputs: one line naming the problem, exit status 2, nothing written.
  silent = tmp_path / 'silent.wav'
  audio_io.save_audio(silent, np.zeros(8000), 16000)
  nan = tmp_path / 'nan.wav'
  sf.write(nan, np.full(8000, np.nan, np.float32), 16000, subtype='FLOAT')
  for path, message in ((silent, 'is silent'), (nan, 'NaN or inf'),
                        (tmp_path / 'missing.wav', 'does not exist')):
    result = _main(f'--workdir={export}', '--mode=enhance', f'--input={path}')
    assert result.returncode == 2 and result.stderr.strip().startswith('error:'), result.stderr
    assert message in result.stderr

  result = _main(f'--workdir={storm}', '--mode=eval')
  assert result.returncode == 0, result.stderr
  with open(os.path.join(storm, 'eval', 'step_4.json')) as f:
    held_out = json.load(f)
  # Each held-out family apart: a recorded speaker meets recorded music,
  # synthetic voices the synthetic notes.
  assert set(held_out['held_out']) == {'recorded', 'synthetic'}
  for family, music in (('recorded', 'recorded_music'), ('synthetic', 'music')):
    systems = held_out['held_out'][family]
    assert set(systems) == {'noisy', 'wiener', 'storm', 'predictive'}
    types = {'white', 'babble', music, 'reverb'}
    assert set(systems['storm']) == {'all', 'snr_5'} | types | {f'{t}@5' for t in types}
    assert set(systems['noisy']['all']) == {'pesq_wb', 'estoi', 'si_sdr'}
    # The noisy row is the input itself: its SI-SDR is near the mixing SNR
    # wherever the noise is additive (white, babble, music at 5 dB).
    assert abs(systems['noisy']['white']['si_sdr'] - 5.0) < 0.5
  assert held_out['held_out_cost']['num_mixtures'] == 8


class _IdentityEnhancer:
  """Stands in for a trained predictor: each window comes back as its noisy
  input, so the reassembled output is known exactly; counts network calls."""

  frozen = None

  def __init__(self, task):
    self.task, self.calls = task, 0

  def run(self, request, rng, first=0):
    del rng, first
    self.calls += 1
    return np.asarray(self.task.decode(request.prior.mean))


def test_many_files_share_network_batches_and_come_back_whole():
  config = enhance_tiny.get_config()
  config.enhance.method = 'predictive'
  config.enhance.update(dict(window_frames=16, overlap_frames=4, batch_windows=4))
  task = tasks.get_task(config)
  rng = np.random.default_rng(0)
  hop = task.stft.hop_length
  audios = [0.1 * rng.standard_normal(n).astype(np.float32)
            for n in (5 * hop, 40 * hop + 7, 3 * hop, 16 * hop, 2 * hop)]
  together = _IdentityEnhancer(task)
  outputs = list(task.enhance_many(together, audios))
  one_by_one = _IdentityEnhancer(task)
  singles = [task.enhance(one_by_one, audio) for audio in audios]
  for audio, out, single in zip(audios, outputs, singles):
    assert out.shape == audio.shape
    np.testing.assert_allclose(out, single, atol=1e-6)
    np.testing.assert_allclose(out, audio, atol=1e-4)
  assert together.calls < one_by_one.calls


def test_shifted_estimates_are_realigned_before_they_are_averaged():
  config = enhance_tiny.get_config()
  config.enhance.method = 'predictive'
  config.enhance.update(dict(window_frames=16, overlap_frames=4, batch_windows=4, shifts=4))
  task = tasks.get_task(config)
  rng = np.random.default_rng(1)
  audios = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (700, 3000)]
  for audio, out in zip(audios, task.enhance_many(_IdentityEnhancer(task), audios)):
    np.testing.assert_allclose(out, audio, atol=1e-4)  # a misaligned mean would blur
  silent = np.zeros(500, np.float32)
  with pytest.raises(UserError, match='Recording 1 .*silent'):
    list(task.enhance_many(_IdentityEnhancer(task), [audios[0], silent]))


class _WindowRecorder(_IdentityEnhancer):

  def __init__(self, task):
    super().__init__(task)
    self.windows = []

  def run(self, request, rng, first=0):
    self.windows.append(np.asarray(self.task.stft.to_audio(request.prior.mean)))
    return super().run(request, rng, first)


def test_a_clip_shorter_than_a_window_is_extended_by_its_mirror_not_zeros():
  config = enhance_tiny.get_config()
  config.enhance.method = 'predictive'
  config.enhance.update(dict(window_frames=16, overlap_frames=4, batch_windows=1))
  task = tasks.get_task(config)
  hop = task.stft.hop_length
  noisy = 0.1 * np.random.default_rng(1).standard_normal(5 * hop + 3).astype(np.float32)
  recorder = _WindowRecorder(task)
  out = task.enhance(recorder, noisy)
  np.testing.assert_allclose(out, noisy, atol=1e-4)
  (window,) = recorder.windows[0]
  assert window.shape == (16 * hop,)
  # Zeros there read as a noise floor of nothing (a 1 s clip in white noise:
  # 5 dB SI-SDR zero-padded, 15 dB mirrored with the shipped model).
  gain = np.std(window[:len(noisy)]) / np.std(noisy)
  np.testing.assert_allclose(window[len(noisy):2 * len(noisy)] / gain, noisy[::-1], atol=1e-4)
  assert np.std(window[-hop:]) > 0.5 * np.std(window[:hop])
