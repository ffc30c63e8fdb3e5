"""Step grids and the higher-order solvers against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff.diffusion import analytic, grids, samplers, schedules

LINEAR = schedules.Schedule(jnp.asarray(schedules.linear_betas(1000, 1e-4, 0.02), jnp.float32))
COSINE = schedules.Schedule(jnp.asarray(schedules.cosine_betas(50), jnp.float32))
SHORT = schedules.Schedule(jnp.asarray(schedules.linear_betas(50, 1e-4, 0.05), jnp.float32))


@pytest.mark.parametrize('schedule', [LINEAR, COSINE, SHORT], ids=['linear', 'cosine', 'short'])
@pytest.mark.parametrize('name', sorted(grids.GRIDS))
def test_grids_are_increasing_within_their_endpoints(schedule, name):
  lam = np.asarray(grids.get_grid(name, schedule, 12))
  assert lam.shape == (12,) and np.all(np.diff(lam) > 0)
  own_low, own_high = (float(schedule.log_snr[-1]) / 2, float(schedule.log_snr[0]) / 2)
  if name in ('uniform_t', 'log_snr_full'):   # the trained steps T-1 and 0 themselves
    np.testing.assert_allclose(lam[[0, -1]], [own_low, own_high], rtol=1e-5)
  else:                     # truncated to EDM's sigma range where the schedule exceeds it
    np.testing.assert_allclose(lam[0], max(own_low, grids.LAMBDA_MIN), rtol=1e-5)
    np.testing.assert_allclose(lam[-1], min(own_high, grids.LAMBDA_MAX), rtol=1e-5)


def test_each_grid_has_its_spacing():
  t = np.asarray(LINEAR.t_at_log_snr(2 * grids.uniform_t(LINEAR, 10)))
  np.testing.assert_allclose(t, np.round(np.linspace(999, 0, 10)), atol=1e-2)
  np.testing.assert_allclose(np.diff(np.asarray(grids.log_snr(LINEAR, 10))),
                             np.diff(np.asarray(grids.log_snr(LINEAR, 10)))[0], rtol=1e-4)
  sigma = np.exp(-np.asarray(grids.karras(LINEAR, 10), np.float64))
  steps = np.diff(sigma ** (1 / grids.KARRAS_RHO))
  np.testing.assert_allclose(steps, steps[0], rtol=1e-4)
  assert np.all(np.diff(sigma) < 0) and abs(np.diff(sigma)[-1]) < abs(np.diff(sigma)[0])


def test_bad_grids_fail_naming_them():
  with pytest.raises(ValueError, match="'uniform'"):
    grids.get_grid('uniform', LINEAR, 10)
  with pytest.raises(ValueError, match='T=50'):
    grids.uniform_t(SHORT, 51)


GAUSSIAN = analytic.gaussian_eps(LINEAR, 0.3, 0.5)


def _draw(name, num, seed=0, **options):
  sample = samplers.get_sampler(name, LINEAR, **options)
  return np.asarray(jax.jit(lambda r: sample(GAUSSIAN, r, (num, 1)))(jax.random.PRNGKey(seed)))


@pytest.mark.parametrize('name,options', [
    ('dpm_solver', dict(order=3, num_steps=50)),
    ('dpm_solver', dict(order=3, num_steps=50, grid='karras')),
    ('heun', dict(num_steps=59)),
    ('heun', dict(num_steps=199, churn=10.0)),   # churn needs more steps (EDM, sec. 4)
])
def test_gaussian_moments_at_high_call_counts(name, options):
  x = _draw(name, 50_000, **options)
  assert abs(x.mean() / 0.3 - 1) < 0.02 and abs(x.std() / 0.5 - 1) < 0.02


@pytest.mark.parametrize('name,options,min_ratio', [
    ('ddim', dict(grid='log_snr'), 1.8),            # first order: error halves
    ('dpm_solver', dict(order=2), 3.0),             # second order: quarters
    ('dpm_solver', dict(order=3), 4.5),             # third order (8 asymptotically)
    ('heun', dict(), 3.0),                          # second order
])
def test_convergence_order_is_visible(name, options, min_ratio):
  """Deterministic solvers on the same noise: the distance to a 400-call
  solution falls by 2^order from 20 to 40 calls."""
  calls = (21, 41, 401) if name == 'heun' else (20, 40, 400)
  reference = _draw(name, 4000, num_steps=calls[2], **options)
  errors = [np.abs(_draw(name, 4000, num_steps=c, **options) - reference).mean()
            for c in calls[:2]]
  assert errors[0] / errors[1] > min_ratio, errors


def test_heun_with_churn_is_stochastic_and_without_is_not():
  a, b = _draw('heun', 8, seed=0, num_steps=9), _draw('heun', 8, seed=0, num_steps=9)
  np.testing.assert_array_equal(a, b)
  churned = [_draw('heun', 8, seed=0, num_steps=9, churn=5.0, temperature=1.0),
             _draw('heun', 8, seed=1, num_steps=9, churn=5.0)]
  assert not np.allclose(churned[0], churned[1])
  assert samplers.get_sampler('heun', LINEAR, num_steps=9).num_evals == 9
  with pytest.raises(ValueError, match='give 9 or 11'):
    samplers.get_sampler('heun', LINEAR, num_steps=10)
  with pytest.raises(ValueError, match='churn'):
    samplers.get_sampler('heun', LINEAR, churn=-1.0)
