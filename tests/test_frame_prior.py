"""The frame-rate speech prior: the tight STFT frame against its closed forms,
restoration's operators through it, the model, the shifted schedule, and
every restoration method end to end on a tiny frame prior."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from audiodiff import defaults
from audiodiff.audio import tight_frame
from audiodiff.diffusion import schedules
from audiodiff.errors import UserError
from audiodiff.models.frame_prior import FramePrior
from audiodiff.restoration import operators, posterior, restore

RATE = 8000


@pytest.mark.parametrize('length', [256, 250, 7])
def test_tight_frame_is_parseval_and_synthesis_is_its_adjoint(length):
  rng = np.random.default_rng(length)
  x = rng.standard_normal((3, length)).astype(np.float32)
  coeffs = tight_frame.analysis(x, 32)
  assert coeffs.shape == (3, tight_frame.num_frames(length, 32), 17)
  np.testing.assert_allclose(tight_frame.synthesis(coeffs, 32, length), x, atol=1e-5)  # S^T S = I
  np.testing.assert_allclose(float(jnp.sum(jnp.abs(coeffs) ** 2)), np.sum(x ** 2), rtol=1e-5)
  # <S x, Z> = <x, S^T Z> for coefficients no signal has (inconsistent).
  z = (rng.standard_normal(coeffs.shape) + 1j * rng.standard_normal(coeffs.shape))
  z = jnp.asarray(z, jnp.complex64)
  lhs = float(jnp.sum(jnp.real(jnp.conj(coeffs) * z)))
  rhs = float(np.sum(x * np.asarray(tight_frame.synthesis(z, 32, length))))
  np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
  with pytest.raises(ValueError, match='even n_fft'):
    tight_frame.analysis(x, 31)


def test_a_masks_and_a_lowpass_through_the_frame_keep_their_closed_forms():
  """On coefficients z, the operator is B = A S^T (A a time mask or a
  low-pass); B B^T = A A^T (diagonal), and the projection of z onto
  {B z = y} is z + S (A^+ (y - A S^T z)): its synthesis measures y."""
  rng = np.random.default_rng(0)
  length, n_fft = 128, 16
  mask = operators.TimeDiagonal(jnp.asarray(rng.uniform(size=length) > 0.3, jnp.float32))
  lowpass = operators.FourierDiagonal(
      jnp.asarray(operators.lowpass_response(length, RATE, 1500)), length)
  for op in (mask, lowpass):
    v = jnp.asarray(rng.standard_normal((2, length)), jnp.float32)
    b_bt = op(tight_frame.synthesis(tight_frame.analysis(op(v), n_fft), n_fft, length))
    np.testing.assert_allclose(b_bt, op(op(v)), atol=1e-5)
    z = tight_frame.analysis(rng.standard_normal((2, length)), n_fft)
    y = op(jnp.asarray(rng.standard_normal((2, length)), jnp.float32))
    x = tight_frame.synthesis(z, n_fft, length)
    projected = z + tight_frame.analysis(op.pinv(y - op(x)), n_fft)
    np.testing.assert_allclose(op(tight_frame.synthesis(projected, n_fft, length)), y,
                               atol=1e-4)


def test_frame_prior_keeps_the_waveform_shape_and_differentiates_at_silence():
  model = FramePrior(n_fft=32, channels=16, intermediate=32, num_blocks=2, embedding_dim=16)
  x = jnp.zeros((2, 100))
  t = jnp.array([3.0, 40.0])
  params = model.init(jax.random.PRNGKey(0), x, t)
  out = model.apply(params, x, t)
  assert out.shape == (2, 100)
  assert model.apply(params, x[..., None], t).shape == (2, 100, 1)
  noisy = jax.random.normal(jax.random.PRNGKey(1), (2, 100))
  assert float(jnp.std(model.apply(params, noisy, t))) > 0  # the small init is not zero
  # DPS and Pi-GDM differentiate through the network: finite at digital silence.
  grad = jax.grad(lambda v: jnp.sum(model.apply(params, v, t) ** 2))(x)
  assert np.all(np.isfinite(grad))


def test_log_snr_shift_moves_every_step_by_the_shift():
  betas = schedules.cosine_betas(100)
  assert schedules.shift_log_snr(betas, 0.0) is betas
  log_snr = lambda b: np.log(np.cumprod(1 - b)) - np.log1p(-np.cumprod(1 - b))
  shifted = schedules.shift_log_snr(betas, 4.6)
  np.testing.assert_allclose(log_snr(shifted)[:-1], log_snr(betas)[:-1] + 4.6, atol=1e-6)
  config = defaults.get_config().diffusion
  config.update(schedule='cosine', num_steps=100, log_snr_shift=4.6)
  np.testing.assert_allclose(schedules.get_schedule(config).log_snr[:-1],
                             log_snr(shifted)[:-1], atol=1e-2)  # float32 steps


class _TinyFramePrior:
  """An api.Trained stand-in around an untrained tiny FramePrior (a 512-sample
  window at 8 kHz), enough to run every method's arithmetic end to end."""

  name = 'generate'

  def __init__(self, method_config):
    self.schedule = schedules.Schedule(jnp.asarray(schedules.shift_log_snr(
        schedules.cosine_betas(50), 2.0), jnp.float32))
    self.model = FramePrior(n_fft=64, channels=16, intermediate=32, num_blocks=2,
                            embedding_dim=16)
    self.params = self.model.init(jax.random.PRNGKey(0), jnp.zeros((1, 512)), jnp.zeros(1))
    self.config = ml_collections.ConfigDict(dict(
        data=dict(segment_length=512), diffusion=dict(prediction='v'),
        sampler=dict(name='ddim', num_steps=6, eta=0.0, grid='', guidance_scale=1.0,
                     clip_x0=False, temperature=1.0), restore=method_config))
    self.exp = self.task = self

  def sample_request(self, batch):
    return ml_collections.ConfigDict(dict(cond=None, uncond=None))

  def apply_fn(self, params, x, t, cond):
    return self.model.apply(params, x, t)

  def condition(self, params, cond):
    return cond


@pytest.mark.parametrize('method', posterior.METHODS)
@pytest.mark.parametrize('task', ['inpaint', 'bandwidth', 'declip'])
def test_every_method_restores_through_a_tiny_frame_prior(method, task):
  settings = defaults.get_config().restore
  settings.update(task=task, method=method, gaps='0.05-0.06', cutoff_hz=2000,
                  clip_level=0.3, batch_windows=2)
  t = np.arange(int(0.2 * RATE)) / RATE
  clean = (0.4 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 2900 * t)).astype(
      np.float32)
  degraded = restore.degrade(task, clean, RATE, gaps=operators.parse_gaps(settings.gaps),
                             cutoff_hz=2000, clip_level=0.3)
  measurement = restore.measure(task, degraded, settings, RATE)
  restored = restore.Restorer(_TinyFramePrior(settings), settings)(measurement)
  assert restored.shape == clean.shape and np.all(np.isfinite(restored))
  op = measurement.operator()
  residual = op.residual(jnp.asarray(restored), op(jnp.asarray(measurement.degraded)))
  assert float(jnp.max(jnp.abs(residual))) < 1e-4


def test_averaged_restorations_stay_consistent_and_lie_between_the_samples():
  settings = defaults.get_config().restore
  settings.update(task='inpaint', method='projection', gaps='0.05-0.07', batch_windows=2)
  t = np.arange(int(0.2 * RATE)) / RATE
  clean = (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
  degraded = restore.degrade('inpaint', clean, RATE, gaps=operators.parse_gaps(settings.gaps))
  measurement = restore.measure('inpaint', degraded, settings, RATE)
  one = restore.Restorer(_TinyFramePrior(settings), settings)(measurement)
  settings.average = 3
  restorer = restore.Restorer(_TinyFramePrior(settings), settings)
  assert restorer.num_evals == 3 * 6
  mean = restorer(measurement)
  gap = measurement.weights == 0
  assert not np.allclose(mean[gap], one[gap])   # more draws than the first
  np.testing.assert_array_equal(mean[measurement.weights >= 1],
                                measurement.degraded[measurement.weights >= 1])
  settings.average = 0
  with pytest.raises(UserError, match="whole number >= 1"):
    restore.Restorer(_TinyFramePrior(settings), settings)
