"""Forward process, posterior, conversions and loss against closed forms."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff.diffusion import analytic, process, samplers, schedules

SCHEDULE = schedules.Schedule(jnp.asarray(schedules.linear_betas(50, 1e-4, 0.05), jnp.float32))


def test_step_recursion_matches_closed_form_in_distribution():
  """x_{t+1} = sqrt(1-beta) x_t + sqrt(beta) eps, iterated, vs q(x_t | x_0)."""
  rng = jax.random.PRNGKey(0)
  n = 200_000
  x0 = 0.4 + 0.3 * jax.random.normal(rng, (n,))    # data N(0.4, 0.3^2)
  x = x0
  for t in range(SCHEDULE.num_steps):
    x = process.q_step(SCHEDULE, x, jnp.full((n,), t),
                         jax.random.normal(jax.random.fold_in(rng, t + 1), (n,)))
    if t in (0, 9, 30, 49):
      closed = process.q_sample(SCHEDULE, x0, jnp.full((n,), float(t)),
                                  jax.random.normal(jax.random.fold_in(rng, 1000 + t), (n,)))
      ab = float(SCHEDULE.alpha_bar[t])
      expected_mean = np.sqrt(ab) * 0.4
      expected_std = np.sqrt(ab * 0.09 + 1 - ab)
      for sample in (x, closed):
        assert abs(float(sample.mean()) - expected_mean) < 0.01
        assert abs(float(sample.std()) / expected_std - 1) < 0.01
      # Same conditional law given x0: the residual after removing sqrt(ab) x0.
      assert abs(float(jnp.std(x - np.sqrt(ab) * x0)) - np.sqrt(1 - ab)) < 0.01


def test_posterior_is_the_gaussian_product():
  t = jnp.array([0, 1, 7, 49])
  x0 = jnp.array([[0.3], [-0.2], [0.9], [0.1]])
  x_t = jnp.array([[0.5], [0.1], [-0.4], [1.2]])
  mean, variance = process.q_posterior(SCHEDULE, x0, x_t, t)
  betas = np.asarray(SCHEDULE.betas, np.float64)
  alpha_bar = np.cumprod(1 - betas)
  for i, step in enumerate(np.asarray(t)):
    if step == 0:
      np.testing.assert_allclose(mean[i], x0[i], atol=1e-4)  # float32 1 - alpha_bar
      assert abs(float(variance[i])) < 1e-7
      continue
    prev = alpha_bar[step - 1]
    # q(x_{t-1}|x0) = N(sqrt(prev) x0, 1-prev), q(x_t|x_{t-1}) = N(sqrt(a) x_{t-1}, beta).
    precision = 1 / (1 - prev) + (1 - betas[step]) / betas[step]
    expected = (np.sqrt(prev) * x0[i] / (1 - prev)
                + np.sqrt(1 - betas[step]) * x_t[i] / betas[step]) / precision
    np.testing.assert_allclose(mean[i], expected, rtol=1e-3)
    np.testing.assert_allclose(variance[i], 1 / precision, rtol=1e-3)


@pytest.mark.parametrize('parameterization', process.PARAMETERIZATIONS)
def test_conversions_invert(parameterization):
  rng = jax.random.PRNGKey(1)
  x0, eps = jax.random.normal(rng, (2, 6, 32))
  t = jnp.linspace(0, 49, 6)
  alpha, sigma = SCHEDULE.alpha_sigma_at(t)
  x_t = process.q_sample(SCHEDULE, x0, t, eps)
  prediction = process.target(x0, eps, alpha, sigma, parameterization)
  x0_back, eps_back = process.to_x0_eps(prediction, x_t, alpha, sigma, parameterization)
  np.testing.assert_allclose(x0_back, x0, atol=2e-3)
  np.testing.assert_allclose(eps_back, eps, atol=2e-4)


def _exact_apply(mean, std, parameterization):
  eps_fn = analytic.gaussian_eps(SCHEDULE, mean, std)

  def apply(params, x_t, t, cond):
    del params
    eps = eps_fn(x_t, t, cond)
    alpha, sigma = SCHEDULE.alpha_sigma_at(t)
    x0 = (x_t - sigma[:, None] * eps) / alpha[:, None]
    return process.target(x0, eps, alpha, sigma, parameterization)
  return apply


@pytest.mark.parametrize('parameterization', ['eps', 'x0', 'v'])
def test_l2_loss_at_exact_predictor_equals_analytic_value(parameterization):
  mean, std = 0.2, 0.5
  v = std ** 2
  term = process.diffusion_loss(SCHEDULE, parameterization=parameterization, loss_type='l2')
  apply = functools.partial(_exact_apply(mean, std, parameterization), None)
  rng = jax.random.PRNGKey(2)
  x0 = mean + std * jax.random.normal(rng, (100_000, 4))
  loss, per_example = jax.jit(lambda x0, r: term(apply, x0, None, r))(x0, jax.random.PRNGKey(3))
  assert per_example.shape == (100_000,)
  ab = np.cumprod(1 - np.linspace(1e-4, 0.05, 50))
  a2, s2 = ab, 1 - ab
  var_x0 = v * s2 / (a2 * v + s2)          # Var[x0 | x_t]
  per_t = {'x0': var_x0, 'eps': var_x0 * a2 / s2, 'v': var_x0 / s2}[parameterization]
  assert abs(float(loss) / per_t.mean() - 1) < 0.03


def test_loss_options_and_errors():
  apply = lambda x, t, cond: 0.5 * x
  x0 = jnp.ones((8, 16))
  l1 = process.diffusion_loss(SCHEDULE, loss_type='l1')
  weighted = process.diffusion_loss(SCHEDULE, loss_type='l2', snr_weighting='min_snr')
  for term in (l1, weighted):
    loss, per_example = term(apply, x0, None, jax.random.PRNGKey(0))
    assert np.isfinite(float(loss)) and float(loss) > 0 and per_example.shape == (8,)
  with pytest.raises(ValueError, match='l3'):
    process.diffusion_loss(SCHEDULE, loss_type='l3')
  with pytest.raises(ValueError, match='score'):
    process.diffusion_loss(SCHEDULE, parameterization='score')
  with pytest.raises(ValueError, match='snr'):
    process.diffusion_loss(SCHEDULE, snr_weighting='snr')


def test_loss_mask_ignores_padding_and_prior_shifts_the_target():
  """A mask drops padded samples from each example's mean; with a prior the
  network is trained on (x0 - mean) / scale."""
  term = process.diffusion_loss(SCHEDULE, parameterization='x0', loss_type='l2')
  x0 = jnp.concatenate([jnp.ones((2, 8)), 100.0 * jnp.ones((2, 8))], axis=1)
  mask = jnp.concatenate([jnp.ones((2, 8)), jnp.zeros((2, 8))], axis=1)
  predict_one = lambda x, t, cond: jnp.ones_like(x)
  _, per_example = term(predict_one, x0, None, jax.random.PRNGKey(0), mask=mask)
  np.testing.assert_allclose(per_example, 0.0)
  prior = samplers.Prior(mean=3.0 * jnp.ones((2, 16)), scale=2.0)
  _, per_example = term(lambda x, t, c: jnp.zeros_like(x), 3.0 + 2.0 * jnp.ones((2, 16)), None,
                        jax.random.PRNGKey(0), prior=prior)
  np.testing.assert_allclose(per_example, 1.0)   # the network's target z0 = 1


def test_min_snr_weight_values():
  alpha, sigma = SCHEDULE.alpha_sigma_at(jnp.array([0.0, 49.0]))
  snr = (alpha / sigma) ** 2
  w = process.snr_weight(alpha, sigma, 'eps', 'min_snr', 5.0)
  np.testing.assert_allclose(w, np.minimum(snr, 5.0) / snr, rtol=1e-5)
  w = process.snr_weight(alpha, sigma, 'x0', 'min_snr', 5.0)
  np.testing.assert_allclose(w, np.minimum(snr, 5.0), rtol=1e-5)
