"""Exact denoisers of analytic data distributions, for sampler tests and
benchmarks.

For x_t = alpha x_0 + sigma eps the optimal noise predictor is
E[eps | x_t] = (x_t - alpha E[x_0 | x_t]) / sigma, known in closed form when
x_0 is Gaussian or a mixture of Gaussians.
"""

import jax
import jax.numpy as jnp


def gaussian_mixture_eps(schedule, weights, means, stds):
  """fn(x_t [B, D], t [B], cond) -> E[eps | x_t] for x_0 ~ sum_k w_k N(m_k, s_k^2)
  in every dimension (s_k = 0: point masses, a discrete distribution)."""
  weights, means, stds = (jnp.asarray(v, jnp.float32) for v in (weights, means, stds))

  def fn(x, t, cond):
    del cond
    alpha, sigma = schedule.alpha_sigma_at(t)
    alpha, sigma = alpha[:, None, None], sigma[:, None, None]
    x_k = x[..., None]                                   # [B, D, K]
    variance = alpha ** 2 * stds ** 2 + sigma ** 2       # of x_t given component k
    log_p = (jnp.log(weights) - 0.5 * jnp.log(variance)
             - 0.5 * (x_k - alpha * means) ** 2 / variance)
    responsibility = jax.nn.softmax(log_p, axis=-1)
    x0_k = means + alpha * stds ** 2 / variance * (x_k - alpha * means)
    x0 = jnp.sum(responsibility * x0_k, axis=-1)
    return (x - alpha[..., 0] * x0) / sigma[..., 0]

  return fn


def gaussian_eps(schedule, mean, std):
  """Exact noise predictor for x_0 ~ N(mean, std^2)."""
  return gaussian_mixture_eps(schedule, [1.0], [mean], [std])
