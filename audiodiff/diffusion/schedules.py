"""Noise schedules: betas, alphas, alpha_bar and log-SNR as pure functions.

Convention: the trained schedule has T = `num_steps` discrete steps indexed
t = 0 .. T-1. Step t adds noise with variance betas[t], so

  x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) eps,
  alpha_bar[t] = prod_{s <= t} (1 - betas[s]),

and the clean data sits "before" t = 0 (alpha_bar = 1). Every quantity can be
evaluated at a fractional t: log-SNR is interpolated linearly between integer
steps, which is how short inference schedules (DiffWave fast sampling,
DDIM / DPM-Solver grids) are placed on a trained one.
"""

import flax
import jax.numpy as jnp
import numpy as np

from audiodiff.errors import UserError
from audiodiff.registry import Registry


@flax.struct.dataclass
class Schedule:
  """A discrete variance-preserving schedule, evaluable at fractional steps.

  Attributes:
    betas: [T] per-step noise variances.
  """
  betas: jnp.ndarray

  @property
  def num_steps(self) -> int:
    return self.betas.shape[0]

  @property
  def alphas(self) -> jnp.ndarray:
    """[T] 1 - beta."""
    return 1.0 - self.betas

  @property
  def alpha_bar(self) -> jnp.ndarray:
    """[T] cumulative product of alphas (signal variance at step t)."""
    return jnp.cumprod(self.alphas)

  @property
  def log_snr(self) -> jnp.ndarray:
    """[T] log(alpha_bar / (1 - alpha_bar)), decreasing in t."""
    return _logit(self.alpha_bar)

  def log_snr_at(self, t: jnp.ndarray) -> jnp.ndarray:
    """log-SNR at fractional steps t (any shape), clamped to [0, T-1]."""
    steps = jnp.arange(self.num_steps, dtype=jnp.float32)
    return jnp.interp(jnp.asarray(t, jnp.float32), steps, self.log_snr)

  def alpha_bar_at(self, t: jnp.ndarray) -> jnp.ndarray:
    """alpha_bar at fractional steps t (any shape)."""
    return _sigmoid(self.log_snr_at(t))

  def alpha_sigma_at(self, t: jnp.ndarray):
    """(sqrt(alpha_bar), sqrt(1 - alpha_bar)) at fractional steps t."""
    log_snr = self.log_snr_at(t)
    return jnp.sqrt(_sigmoid(log_snr)), jnp.sqrt(_sigmoid(-log_snr))

  def t_at_log_snr(self, log_snr: jnp.ndarray) -> jnp.ndarray:
    """Inverse of `log_snr_at`: the fractional step with this log-SNR."""
    steps = jnp.arange(self.num_steps, dtype=jnp.float32)
    # jnp.interp needs increasing x; log-SNR decreases with t.
    return jnp.interp(log_snr, self.log_snr[::-1], steps[::-1])


def _logit(p):
  return jnp.log(p) - jnp.log1p(-p)


def _sigmoid(x):
  return 1.0 / (1.0 + jnp.exp(-x))


def linear_betas(num_steps: int, beta_start: float, beta_end: float) -> np.ndarray:
  """[T] betas evenly spaced from beta_start to beta_end (DDPM, DiffWave)."""
  return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)


def betas_from_alpha_bar(alpha_bar: np.ndarray, max_beta: float = 0.999) -> np.ndarray:
  """[T] betas with cumprod(1 - betas) == alpha_bar (clipped at max_beta)."""
  previous = np.concatenate([[1.0], alpha_bar[:-1]])
  return np.clip(1.0 - alpha_bar / previous, 0.0, max_beta)


def cosine_betas(num_steps: int, offset: float = 0.008) -> np.ndarray:
  """[T] betas of the cosine schedule (Nichol & Dhariwal 2021).

  alpha_bar(u) = f(u) / f(0), f(u) = cos^2(pi/2 (u + s) / (1 + s)), u = (t+1)/T.
  """
  u = np.arange(num_steps + 1, dtype=np.float64) / num_steps
  f = np.cos(0.5 * np.pi * (u + offset) / (1.0 + offset)) ** 2
  return betas_from_alpha_bar(f[1:] / f[0])


def sigmoid_betas(num_steps: int, start: float = -3.0, end: float = 3.0,
                  tau: float = 1.0) -> np.ndarray:
  """[T] betas of the sigmoid schedule (Chen 2023, "On the importance of noise
  scheduling"): alpha_bar(u) = (sig(end/tau) - sig((start + u (end-start))/tau))
  / (sig(end/tau) - sig(start/tau)), u = (t+1)/T."""
  sig = lambda x: 1.0 / (1.0 + np.exp(-x))
  u = np.arange(num_steps + 1, dtype=np.float64) / num_steps
  v_start, v_end = sig(start / tau), sig(end / tau)
  f = (v_end - sig((start + u * (end - start)) / tau)) / (v_end - v_start)
  return betas_from_alpha_bar(f[1:] / f[0])


# config.diffusion.schedule -> betas [T] from config.diffusion.
SCHEDULES = Registry('config.diffusion.schedule')


@SCHEDULES.register('linear')
def _linear(diffusion_config) -> np.ndarray:
  return linear_betas(diffusion_config.num_steps, diffusion_config.beta_start,
                      diffusion_config.beta_end)


@SCHEDULES.register('cosine')
def _cosine(diffusion_config) -> np.ndarray:
  return cosine_betas(diffusion_config.num_steps, diffusion_config.cosine_offset)


@SCHEDULES.register('sigmoid')
def _sigmoid_schedule(diffusion_config) -> np.ndarray:
  return sigmoid_betas(diffusion_config.num_steps, diffusion_config.sigmoid_start,
                       diffusion_config.sigmoid_end, diffusion_config.sigmoid_tau)


@SCHEDULES.register('explicit')
def _explicit(diffusion_config) -> np.ndarray:
  betas = np.asarray(diffusion_config.betas, np.float64)
  if betas.ndim != 1 or betas.size == 0:
    raise UserError('config.diffusion.schedule="explicit" needs a non-empty '
                     'list in config.diffusion.betas.')
  return betas


def shift_log_snr(betas: np.ndarray, shift: float) -> np.ndarray:
  """[T] betas whose log-SNR is that of `betas` plus `shift` at every step.

  logit(alpha_bar') = logit(alpha_bar) + shift: training on data scaled by
  exp(shift / 2) under `betas` sees the same signal-to-noise ratios, so a
  shift lets quiet data (speech at -26 dBFS: shift 2 ln 10) meet the
  schedule's levels without rescaling it (Hoogeboom et al. 2023).
  """
  if shift == 0:
    return betas
  alpha_bar = np.cumprod(1.0 - np.asarray(betas, np.float64))
  with np.errstate(divide='ignore'):
    log_snr = np.log(alpha_bar) - np.log1p(-alpha_bar)
  return betas_from_alpha_bar(1.0 / (1.0 + np.exp(-(log_snr + shift))))


def get_schedule(diffusion_config) -> Schedule:
  """Builds the trained schedule from `config.diffusion` (its log-SNR moved
  by config.diffusion.log_snr_shift)."""
  betas = SCHEDULES.get(diffusion_config.schedule)(diffusion_config)
  betas = shift_log_snr(betas, float(diffusion_config.get('log_snr_shift', 0.0)))
  if np.any(betas <= 0) or np.any(betas >= 1):
    raise UserError(f'Betas must lie in (0, 1); got min {betas.min()}, '
                     f'max {betas.max()}. Check config.diffusion.')
  return Schedule(betas=jnp.asarray(betas, jnp.float32))
