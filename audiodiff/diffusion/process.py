"""Forward process, posterior, prediction targets and the training loss.

Shapes: x_0, x_t, eps are [B, ...] (waveforms [B, L], latents [B, L, C]);
t is a float [B] of (possibly fractional) step indices of the trained schedule
(see `schedules.py`). alpha = sqrt(alpha_bar_t), sigma = sqrt(1 - alpha_bar_t),
so x_t = alpha x_0 + sigma eps and alpha^2 + sigma^2 = 1.

Parameterizations a network can predict:
  'eps': the noise eps;
  'x0':  the clean signal x_0;
  'v':   v = alpha eps - sigma x_0 (Salimans & Ho 2022).
"""

from typing import Callable

import jax
import jax.numpy as jnp

from audiodiff.errors import UserError
from audiodiff.diffusion.schedules import Schedule

PARAMETERIZATIONS = ('eps', 'x0', 'v')


def expand_like(coefficient, like):
  """[B] -> [B, 1, ...] broadcastable against `like`."""
  return jnp.reshape(coefficient, coefficient.shape + (1,) * (like.ndim - coefficient.ndim))


def q_sample(schedule: Schedule, x0, t, eps):
  """Samples x_t ~ q(x_t | x_0) in closed form, given the noise eps."""
  alpha, sigma = schedule.alpha_sigma_at(t)
  return expand_like(alpha, x0) * x0 + expand_like(sigma, x0) * eps


def q_step(schedule: Schedule, x_prev, t, eps):
  """One forward step x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps (integer t)."""
  beta = schedule.betas[t]
  return expand_like(jnp.sqrt(1.0 - beta), x_prev) * x_prev + expand_like(jnp.sqrt(beta), x_prev) * eps


def posterior_coefficients(alpha_bar, alpha_bar_prev):
  """q(x_prev | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, variance) between any
  two noise levels alpha_bar < alpha_bar_prev (alpha_bar_prev = 1: the data).

  Returns (coef_x0, coef_xt, variance), each shaped like alpha_bar.
  """
  beta = 1.0 - alpha_bar / alpha_bar_prev
  coef_x0 = jnp.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)
  coef_xt = jnp.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
  variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
  return coef_x0, coef_xt, variance


def q_posterior(schedule: Schedule, x0, x_t, t):
  """Mean and variance of q(x_{t-1} | x_t, x_0) for integer t [B].

  At t = 0, x_{t-1} is the data itself: the mean is x0 and the variance 0.
  """
  alpha_bar = schedule.alpha_bar[t]
  alpha_bar_prev = jnp.where(t > 0, schedule.alpha_bar[jnp.maximum(t - 1, 0)], 1.0)
  coef_x0, coef_xt, variance = posterior_coefficients(alpha_bar, alpha_bar_prev)
  mean = expand_like(coef_x0, x0) * x0 + expand_like(coef_xt, x_t) * x_t
  return mean, variance


def target(x0, eps, alpha, sigma, parameterization: str):
  """The regression target for a parameterization; alpha, sigma are [B]."""
  if parameterization == 'eps':
    return eps
  if parameterization == 'x0':
    return x0
  if parameterization == 'v':
    return expand_like(alpha, x0) * eps - expand_like(sigma, x0) * x0
  raise UserError(f'Unknown parameterization {parameterization!r}; '
                   f'choose one of {PARAMETERIZATIONS}.')


def to_x0_eps(prediction, x_t, alpha, sigma, parameterization: str):
  """Converts a network prediction into (x0, eps) given x_t; alpha, sigma [B]."""
  a, s = expand_like(alpha, x_t), expand_like(sigma, x_t)
  if parameterization == 'eps':
    return (x_t - s * prediction) / a, prediction
  if parameterization == 'x0':
    return prediction, (x_t - a * prediction) / s
  if parameterization == 'v':
    return a * x_t - s * prediction, s * x_t + a * prediction
  raise UserError(f'Unknown parameterization {parameterization!r}; '
                   f'choose one of {PARAMETERIZATIONS}.')


def snr_weight(alpha, sigma, parameterization: str, weighting: str,
               min_snr_gamma: float = 5.0):
  """Per-example loss weight [B].

  'none': 1. 'min_snr': Min-SNR-gamma (Hang et al. 2023), which weights every
  parameterization as if it were an x0 loss weighted by min(SNR, gamma).
  """
  if weighting == 'none':
    return jnp.ones_like(alpha)
  if weighting != 'min_snr':
    raise UserError(f'Unknown config.diffusion.snr_weighting={weighting!r}; '
                     "choose 'none' or 'min_snr'.")
  snr = (alpha / sigma) ** 2
  clipped = jnp.minimum(snr, min_snr_gamma)
  # The squared error of eps is SNR times that of x0, and of v SNR + 1 times.
  scale = {'eps': snr, 'x0': jnp.ones_like(snr), 'v': snr + 1.0}[parameterization]
  return clipped / scale


def diffusion_loss(schedule: Schedule, *, parameterization: str = 'eps',
                   loss_type: str = 'l2', snr_weighting: str = 'none',
                   min_snr_gamma: float = 5.0):
  """Returns the diffusion loss term as a pure function.

  Args:
    schedule: the trained schedule.
    parameterization: what the network predicts: 'eps', 'x0' or 'v'.
    loss_type: 'l1' (DiffWave) or 'l2'.
    snr_weighting: 'none' or 'min_snr'.

  Returns:
    term(apply_fn, x0, cond, rng, prior=None, mask=None) -> (loss, per_example):
      apply_fn(x_t [B, ...], t [B], cond) -> prediction, the network;
      x0 [B, ...] the data; prior an optional `samplers.Prior`-like object
      with `to_diffusion` (the diffusion then runs on (x0 - mean) / scale, as
      its samplers expect); mask optional [B, ...] of 0/1 (1: counted),
      padding excluded from each example's mean;
      loss: weighted batch mean, scalar; per_example [B]: unweighted.
    t is drawn uniformly from the integer steps 0 .. T-1.
  """
  if loss_type not in ('l1', 'l2'):
    raise UserError(f"Unknown config.diffusion.loss={loss_type!r}; choose 'l1' or 'l2'.")
  if parameterization not in PARAMETERIZATIONS:
    raise UserError(f'Unknown config.diffusion.prediction={parameterization!r}; '
                     f'choose one of {PARAMETERIZATIONS}.')
  snr_weight(jnp.ones(1), jnp.ones(1), parameterization, snr_weighting)  # validates

  def term(apply_fn: Callable, x0, cond, rng, prior=None, mask=None):
    z0 = x0 if prior is None else prior.to_diffusion(x0)
    rng_t, rng_eps = jax.random.split(rng)
    t = jax.random.randint(rng_t, (z0.shape[0],), 0, schedule.num_steps)
    t = t.astype(jnp.float32)
    eps = jax.random.normal(rng_eps, z0.shape, z0.dtype)
    alpha, sigma = schedule.alpha_sigma_at(t)
    z_t = expand_like(alpha, z0) * z0 + expand_like(sigma, z0) * eps
    prediction = apply_fn(z_t, t, cond)
    error = prediction.astype(jnp.float32) - target(z0, eps, alpha, sigma, parameterization)
    error = jnp.abs(error) if loss_type == 'l1' else jnp.square(error)
    error = error.reshape(error.shape[0], -1)
    if mask is None:
      per_example = jnp.mean(error, axis=1)
    else:
      mask = jnp.broadcast_to(mask, x0.shape).reshape(error.shape).astype(error.dtype)
      per_example = jnp.sum(error * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)
    weight = snr_weight(alpha, sigma, parameterization, snr_weighting, min_snr_gamma)
    return jnp.mean(weight * per_example), per_example

  return term
