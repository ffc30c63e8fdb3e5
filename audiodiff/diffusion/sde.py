"""The mean-reverting diffusion of conditional restoration (SGMSE+, StoRM).

Instead of drifting to zero, the forward process drifts to a target y (the
noisy recording in SGMSE+, a predictive model's estimate in StoRM): an
Ornstein-Uhlenbeck process with the trained schedule's beta(t),

    dx = 1/2 beta(t) (y - x) dt + s sqrt(beta(t)) dw,

whose marginal is Gaussian in closed form, with alpha = exp(-1/2 int beta):

    x_t ~ N(alpha x_0 + (1 - alpha) y, s^2 (1 - alpha^2) I).

In the coordinates z = (x - y) / s this is exactly the variance-preserving
diffusion of `process.py` started from (x_0 - y) / s, so every sampler runs
it unchanged with `samplers.Prior(mean=y, scale=s)`: the walk starts from
N(y, s^2 I), which the process reaches at alpha_T ~ 0. (SGMSE+'s variance-
exploding variant stops at alpha_T = exp(-gamma) = 0.22 with sigma(T) = 0.39,
so its sampling starts from a distribution the training never reached; the
variance-preserving form has no such mismatch.)

Shapes: x, x0, y [B, ...]; beta, alpha, sigma [B] (or scalars).
"""

import jax.numpy as jnp

from audiodiff.diffusion import samplers
from audiodiff.diffusion.process import expand_like


def drift(x, target, beta):
  """The forward SDE's drift 1/2 beta (y - x)."""
  return 0.5 * expand_like(jnp.asarray(beta), x) * (target - x)


def diffusion_coefficient(beta, scale):
  """The forward SDE's g(t) = s sqrt(beta)."""
  return scale * jnp.sqrt(beta)


def forward_step(x_prev, target, beta, scale, eps):
  """One discrete forward step (the discretisation the samplers invert):
  x_t = y + sqrt(1 - beta) (x_{t-1} - y) + s sqrt(beta) eps."""
  beta = expand_like(jnp.asarray(beta), x_prev)
  return target + jnp.sqrt(1.0 - beta) * (x_prev - target) + scale * jnp.sqrt(beta) * eps


def marginal(x0, target, alpha, sigma, scale):
  """Mean [B, ...] and standard deviation [B, 1...] of x_t given x_0 and y."""
  alpha = expand_like(jnp.asarray(alpha), x0)
  return alpha * x0 + (1.0 - alpha) * target, scale * expand_like(jnp.asarray(sigma), x0)


def prior(target, scale) -> samplers.Prior:
  """The terminal distribution N(y, s^2 I), as the samplers take it."""
  return samplers.Prior(mean=target, scale=scale)
