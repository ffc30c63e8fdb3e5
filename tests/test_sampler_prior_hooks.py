"""The open sampler: a data-dependent prior, the x0 and step hooks.

Gaussian data have an exact denoiser, and a Gaussian prior with a linear
measurement y = x[0] has a closed-form posterior, so each seam is checked
against exact numbers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff.diffusion import analytic, samplers, schedules

SCHEDULE = schedules.Schedule(jnp.asarray(schedules.linear_betas(1000, 1e-4, 0.02), jnp.float32))
NUM_DRAWS = 20_000   # the standard error of a std is then 0.5%
TEN_CALLS = {'ddpm': {}, 'ddim': dict(num_steps=10), 'dpm_solver': dict(num_steps=10),
             'heun': dict(num_steps=11),
             'fast': dict(fast_betas=(1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5))}

# A correlated 2-D Gaussian: x ~ N(MEAN, COV); the measurement is y = x[0].
MEAN = np.array([0.2, -0.3])
COV = np.array([[0.25, 0.16], [0.16, 0.16]])   # stds 0.5, 0.4; correlation 0.8
Y = 1.0


def gaussian_eps(mean, cov):
  """Exact eps predictor of z_0 ~ N(mean [D], cov [D, D]): z_t [B, D], t [B]."""
  mean, cov = jnp.asarray(mean, jnp.float32), jnp.asarray(cov, jnp.float32)
  eye = jnp.eye(mean.shape[0])

  def fn(z, t, cond):
    del cond
    alpha, sigma = SCHEDULE.alpha_sigma_at(t)
    a, s = alpha[:, None, None], sigma[:, None, None]
    gain = a * jnp.linalg.solve(a ** 2 * cov + s ** 2 * eye, jnp.broadcast_to(cov, a.shape[:1] + cov.shape))
    z0 = mean + jnp.einsum('bij,bj->bi', jnp.swapaxes(gain, 1, 2), z - alpha[:, None] * mean)
    return (z - alpha[:, None] * z0) / sigma[:, None]

  return fn


def _draw(name, fn, shape, seed=0, **kwargs):
  options = dict(TEN_CALLS[name])
  options.update(kwargs.pop('options', {}))
  sample = samplers.get_sampler(name, SCHEDULE, **options)
  run = jax.jit(lambda rng: sample(fn, rng, shape, **kwargs))
  return np.asarray(run(jax.random.PRNGKey(seed)))


@pytest.mark.parametrize('name', samplers.SAMPLERS.names())
def test_default_prior_is_bit_identical(name):
  fn = analytic.gaussian_eps(SCHEDULE, 0.3, 0.5)
  shape = (64, 3)
  plain = _draw(name, fn, shape)
  explicit = _draw(name, fn, shape,
                   prior=samplers.Prior(jnp.zeros(shape), jnp.ones(shape)))
  np.testing.assert_array_equal(plain, explicit)


@pytest.mark.parametrize('name,options', [('ddpm', {}), ('dpm_solver', dict(num_steps=50))])
def test_prior_mean_and_scale_reach_the_data_distribution(name, options):
  """Data N(m, s_d^2) per dimension, prior N(mu, s^2): the network sees
  z = (x - mu) / s ~ N((m - mu) / s, (s_d / s)^2); samples land on the data."""
  data_mean, data_std = np.array([0.5, -1.0, 2.0]), np.array([0.3, 0.5, 1.0])
  prior_mean, prior_scale = np.array([0.4, -0.8, 1.5]), np.array([0.5, 0.5, 2.0])
  fn = gaussian_eps((data_mean - prior_mean) / prior_scale,
                    np.diag((data_std / prior_scale) ** 2))
  prior = samplers.Prior(jnp.asarray(prior_mean, jnp.float32),
                         jnp.asarray(prior_scale, jnp.float32))
  x = _draw(name, fn, (NUM_DRAWS, 3), prior=prior, options=options)
  np.testing.assert_array_less(np.abs(x.mean(0) / data_mean - 1), 0.02)
  np.testing.assert_array_less(np.abs(x.std(0) / data_std - 1), 0.02)


@pytest.mark.parametrize('name', ['ddim', 'dpm_solver'])
def test_temperature_scales_the_spread_of_a_deterministic_sampler(name):
  """Deterministic samplers map Gaussian data's starting noise affinely, so
  the output's deviation from its mean scales with the temperature."""
  fn = analytic.gaussian_eps(SCHEDULE, 0.3, 0.5)
  full = _draw(name, fn, (20_000, 1))
  half = _draw(name, fn, (20_000, 1), options=dict(temperature=0.5))
  np.testing.assert_allclose(half - half.mean(), 0.5 * (full - full.mean()), atol=1e-4)


def _posterior_cov_given_xt(cov, alpha, sigma):
  """Cov[x0 | x_t] = (cov^-1 + alpha^2 / sigma^2 I)^-1, in a form safe at sigma -> 0."""
  eye = np.eye(cov.shape[0])
  return cov - alpha ** 2 * cov @ np.linalg.solve(alpha ** 2 * cov + sigma ** 2 * eye, cov)


# The whole log-SNR range: the truncated default grid starts at sigma = 80
# and so ignores 1.25% of the deliberately large mean of z0 here (grids.py).
@pytest.mark.parametrize('name,options', [
    ('ddpm', {}), ('dpm_solver', dict(num_steps=50, grid='log_snr_full'))])
@pytest.mark.parametrize('with_prior', [False, True])
def test_x0_hook_conditioning_on_a_measurement_samples_the_posterior(name, options, with_prior):
  """The x0 hook turns E[x0 | x_t] into E[x0 | x_t, y] (a Kalman update with
  Cov[x0 | x_t]), the exact denoiser of the posterior: samples then follow
  N(x0 | y) = x[0] = y, x[1] ~ N(m1 + c01 / c00 (y - m0), c11 - c01^2 / c00)."""
  prior_mean = np.array([0.5, -0.5]) if with_prior else np.zeros(2)
  prior_scale = np.array([2.0, 0.5]) if with_prior else np.ones(2)
  # The network's coordinates z = (x - mu) / s.
  fn = gaussian_eps((MEAN - prior_mean) / prior_scale,
                    COV / np.outer(prior_scale, prior_scale))
  z_cov = jnp.asarray(COV / np.outer(prior_scale, prior_scale), jnp.float32)
  scale = jnp.asarray(prior_scale, jnp.float32)

  def x0_hook(x0, x_t, info):
    del x_t
    eye = jnp.eye(2)
    # Cov[x0 | x_t] in data coordinates: diag(s) Cov[z0 | z_t] diag(s).
    cov_z = z_cov - info.alpha ** 2 * z_cov @ jnp.linalg.solve(
        info.alpha ** 2 * z_cov + info.sigma ** 2 * eye, z_cov)
    cov = cov_z * jnp.outer(scale, scale)
    gain = cov[:, 0] / cov[0, 0]                      # Cov A^T (A Cov A^T)^-1
    return x0 + (Y - x0[:, :1]) * gain[None, :]

  prior = (samplers.Prior(jnp.asarray(prior_mean, jnp.float32), scale)
           if with_prior else None)
  x = _draw(name, fn, (NUM_DRAWS, 2), prior=prior, options=options,
            hooks=samplers.Hooks(x0=x0_hook))
  mean1 = MEAN[1] + COV[0, 1] / COV[0, 0] * (Y - MEAN[0])
  std1 = np.sqrt(COV[1, 1] - COV[0, 1] ** 2 / COV[0, 0])
  np.testing.assert_allclose(x[:, 0], Y, atol=1e-4)
  assert abs(x[:, 1].mean() - mean1) < 0.02 * abs(mean1)
  assert abs(x[:, 1].std() / std1 - 1) < 0.02


def _replacement_moments(alpha_bar):
  """Exact mean [2] and covariance [2, 2] of ancestral sampling with the prior's
  exact denoiser when, after every step, x[0] is replaced by a y + sigma n."""
  mean, cov = np.zeros(2), np.eye(2)
  previous = np.concatenate([[1.0], alpha_bar[:-1]])
  for ab, ab_prev in zip(alpha_bar[::-1], previous[::-1]):
    a, s = np.sqrt(ab), np.sqrt(1 - ab)
    gain = a * COV @ np.linalg.inv(a ** 2 * COV + s ** 2 * np.eye(2))  # dE[x0|x]/dx
    beta = 1 - ab / ab_prev
    c0 = np.sqrt(ab_prev) * beta / (1 - ab)
    c1 = np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
    linear = c0 * gain + c1 * np.eye(2)
    mean = linear @ mean + c0 * (MEAN - gain @ (a * MEAN))
    cov = linear @ cov @ linear.T + beta * (1 - ab_prev) / (1 - ab) * np.eye(2)
    mean[0] = np.sqrt(ab_prev) * Y
    cov[0, :] = cov[:, 0] = 0.0
    cov[0, 0] = 1 - ab_prev
  return mean, cov


@pytest.mark.parametrize('name', ['ddpm', 'fast'])
def test_step_hook_replacement_matches_its_closed_form(name):
  """RePaint-style replacement of the measured coordinate after each step: the
  chain stays affine-Gaussian, so its output law is exact (and, the prior
  being correlated, is not the posterior: the closed form says by how much)."""
  key = jax.random.PRNGKey(7)

  def step_hook(x, info):
    noise = jax.random.normal(jax.random.fold_in(key, info.step), x.shape[:1])
    return x.at[:, 0].set(info.alpha * Y + info.sigma * noise)

  x = _draw(name, gaussian_eps(MEAN, COV), (NUM_DRAWS, 2),
            hooks=samplers.Hooks(step=step_hook))
  if name == 'ddpm':
    alpha_bar = np.asarray(SCHEDULE.alpha_bar, np.float64)
  else:
    alpha_bar = np.asarray(samplers.align_fast_schedule(SCHEDULE, TEN_CALLS['fast']['fast_betas'])[1],
                           np.float64)
  mean, cov = _replacement_moments(alpha_bar)
  np.testing.assert_allclose(x[:, 0], Y, atol=1e-5)
  assert abs(x[:, 1].mean() - mean[1]) < 0.02 * abs(mean[1]) + 0.005
  assert abs(x[:, 1].std() / np.sqrt(cov[1, 1]) - 1) < 0.02
