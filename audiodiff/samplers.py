"""Samplers: from pure noise back to data, each one loop inside JAX.

The denoiser interface
----------------------
Every sampler is driven by a plain callable

    fn(x_t, t, cond) -> prediction

  x_t:  float [B, ...], the noisy signal;
  t:    float32 [B], the step index on the *trained* schedule, 0 .. T-1,
        possibly fractional (alpha_bar at t comes from
        `Schedule.alpha_bar_at(t)`, log-SNR interpolated linearly);
  cond: whatever conditioning the caller passes (a dict of arrays, or None);
  returns an array shaped like x_t holding the prediction of the
  parameterization given to the sampler: 'eps' (noise), 'x0' (clean signal) or
  'v' (alpha eps - sigma x0).

A Flax model is wrapped as `lambda x, t, c: model.apply(params, x, t, c)`; an
analytic denoiser (e.g. the exact noise predictor of a Gaussian) works the same.

Using a sampler
---------------
    sampler = get_sampler('dpm_solver', schedule, parameterization='eps',
                          num_steps=20)
    x0 = sampler(fn, rng, shape, cond=None, uncond=None)   # [shape]

`sampler` is a pure function; wrap it in `jax.jit` with `fn` and `shape`
closed over. Classifier-free guidance: give `guidance_scale` w != 1 and
`uncond`, the conditioning of the unconditional pass (e.g. labels set to the
"no label" id); the prediction is uncond + w (cond - uncond), both passes in one
batched call. `clip_x0` clips the predicted x0 to [-1, 1] at every step.

Registered names: 'ddpm' (ancestral over all T steps), 'ddim' (eta),
'fast' (DiffWave fast sampling with a short beta list aligned onto the trained
schedule), 'dpm_solver' (DPM-Solver++(2M)).
"""

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import diffusion
from audiodiff.schedules import Schedule

Denoiser = Callable[[jnp.ndarray, jnp.ndarray, object], jnp.ndarray]


def _guided_x0_eps(fn, x, t, cond, uncond, alpha, sigma, parameterization,
                   guidance_scale, clip_x0):
  """(x0, eps) predictions at x [B, ...], t [B], with guidance and clipping."""
  if guidance_scale == 1.0:
    prediction = fn(x, t, cond)
  else:
    both = jax.tree.map(lambda c, u: jnp.concatenate([c, u]), cond, uncond)
    conditional, unconditional = jnp.split(
        fn(jnp.concatenate([x, x]), jnp.concatenate([t, t]), both), 2)
    # Predictions are linear in (x0, eps) given x_t, so mixing them here is
    # the same as mixing in eps space.
    prediction = unconditional + guidance_scale * (conditional - unconditional)
  x0, eps = diffusion.to_x0_eps(prediction.astype(jnp.float32), x, alpha, sigma,
                                parameterization)
  if clip_x0:
    x0 = jnp.clip(x0, -1.0, 1.0)
    eps = (x - diffusion.expand_like(alpha, x) * x0) / diffusion.expand_like(sigma, x)
  return x0, eps


def _check_guidance(guidance_scale, uncond):
  if guidance_scale != 1.0 and uncond is None:
    raise ValueError('Classifier-free guidance (guidance_scale != 1) needs '
                     '`uncond`, the conditioning of the unconditional pass.')


def _ancestral(fn, rng, shape, cond, uncond, *, net_t, alpha_bar,
               parameterization, guidance_scale, clip_x0):
  """Ancestral sampling down a sampling schedule.

  Args:
    net_t: [N] trained-schedule step fed to the network at sampling step n.
    alpha_bar: [N] alpha_bar of the sampling schedule (equal to the trained
      alpha_bar at net_t); step n goes from alpha_bar[n] to alpha_bar[n-1]
      (1 for n = 0) with the posterior variance as noise.
  """
  _check_guidance(guidance_scale, uncond)
  alpha_bar = jnp.asarray(alpha_bar, jnp.float32)
  net_t = jnp.asarray(net_t, jnp.float32)
  alpha_bar_prev = jnp.concatenate([jnp.ones((1,)), alpha_bar[:-1]])
  num = alpha_bar.shape[0]
  rng_init, rng_loop = jax.random.split(rng)
  batch = shape[0]

  def body(i, x):
    n = num - 1 - i
    ab, ab_prev = alpha_bar[n], alpha_bar_prev[n]
    alpha = jnp.full((batch,), jnp.sqrt(ab))
    sigma = jnp.full((batch,), jnp.sqrt(1.0 - ab))
    x0, _ = _guided_x0_eps(fn, x, jnp.full((batch,), net_t[n]), cond, uncond,
                           alpha, sigma, parameterization, guidance_scale, clip_x0)
    coef_x0, coef_xt, variance = diffusion.posterior_coefficients(ab, ab_prev)
    noise = jax.random.normal(jax.random.fold_in(rng_loop, i), shape)
    return coef_x0 * x0 + coef_xt * x + jnp.sqrt(variance) * noise

  x = jax.random.normal(rng_init, shape)
  return jax.lax.fori_loop(0, num, body, x)


def ddpm(schedule: Schedule, *, parameterization='eps', guidance_scale=1.0,
         clip_x0=False, **unused):
  """DDPM ancestral sampling over all T trained steps (T network calls)."""
  del unused

  def sample(fn: Denoiser, rng, shape: Sequence[int], cond=None, uncond=None):
    return _ancestral(fn, rng, tuple(shape), cond, uncond,
                      net_t=jnp.arange(schedule.num_steps, dtype=jnp.float32),
                      alpha_bar=schedule.alpha_bar,
                      parameterization=parameterization,
                      guidance_scale=guidance_scale, clip_x0=clip_x0)
  return sample


def align_fast_schedule(schedule: Schedule, fast_betas) -> tuple:
  """Places a short beta list on the trained schedule (DiffWave, Kong et al.).

  Returns (net_t [N], alpha_bar [N]): the fast schedule's own alpha_bar and the
  fractional trained step with the same alpha_bar, fed to the network.
  """
  fast_betas = np.asarray(fast_betas, np.float64)
  fast_alpha_bar = np.cumprod(1.0 - fast_betas)
  trained = np.asarray(schedule.alpha_bar, np.float64)
  if fast_alpha_bar[-1] < trained[-1] * (1 - 1e-3) or fast_alpha_bar[0] > 1.0:
    raise ValueError(
        f'config.sampler.fast_betas reach alpha_bar={fast_alpha_bar[-1]:.3g}, '
        f'beyond the trained schedule (alpha_bar_T={trained[-1]:.3g}). Use a '
        'fast beta list whose cumulative product stays within the trained one.')
  log_snr = np.log(fast_alpha_bar) - np.log1p(-fast_alpha_bar)
  net_t = schedule.t_at_log_snr(jnp.asarray(log_snr, jnp.float32))
  return net_t, jnp.asarray(fast_alpha_bar, jnp.float32)


def fast(schedule: Schedule, *, fast_betas=(1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5),
         parameterization='eps', guidance_scale=1.0, clip_x0=False, **unused):
  """DiffWave fast sampling: ancestral steps on a short user beta list."""
  del unused
  net_t, alpha_bar = align_fast_schedule(schedule, fast_betas)

  def sample(fn: Denoiser, rng, shape: Sequence[int], cond=None, uncond=None):
    return _ancestral(fn, rng, tuple(shape), cond, uncond, net_t=net_t,
                      alpha_bar=alpha_bar, parameterization=parameterization,
                      guidance_scale=guidance_scale, clip_x0=clip_x0)
  return sample


def _integer_grid(schedule: Schedule, num_steps: int):
  """[num_steps] trained steps from T-1 down to 0, evenly spaced, rounded."""
  if not 1 <= num_steps <= schedule.num_steps:
    raise ValueError(f'config.sampler.num_steps={num_steps} must lie in '
                     f'[1, T={schedule.num_steps}].')
  return jnp.round(jnp.linspace(schedule.num_steps - 1, 0, num_steps))


def ddim(schedule: Schedule, *, num_steps=50, eta=0.0, parameterization='eps',
         guidance_scale=1.0, clip_x0=False, **unused):
  """DDIM (Song et al. 2021) on `num_steps` evenly spaced steps; eta=0 is
  deterministic, eta=1 matches ancestral sampling's noise level."""
  del unused
  grid = _integer_grid(schedule, num_steps)

  def sample(fn: Denoiser, rng, shape: Sequence[int], cond=None, uncond=None):
    _check_guidance(guidance_scale, uncond)
    shape = tuple(shape)
    batch = shape[0]
    alpha_bar = schedule.alpha_bar_at(grid)
    alpha_bar_next = jnp.concatenate([alpha_bar[1:], jnp.ones((1,))])
    rng_init, rng_loop = jax.random.split(rng)

    def body(i, x):
      ab, ab_next = alpha_bar[i], alpha_bar_next[i]
      alpha = jnp.full((batch,), jnp.sqrt(ab))
      sigma = jnp.full((batch,), jnp.sqrt(1.0 - ab))
      x0, eps = _guided_x0_eps(fn, x, jnp.full((batch,), grid[i]), cond, uncond,
                               alpha, sigma, parameterization, guidance_scale,
                               clip_x0)
      std = eta * jnp.sqrt((1.0 - ab_next) / (1.0 - ab) * (1.0 - ab / ab_next))
      direction = jnp.sqrt(jnp.maximum(1.0 - ab_next - std ** 2, 0.0))
      noise = jax.random.normal(jax.random.fold_in(rng_loop, i), shape)
      return jnp.sqrt(ab_next) * x0 + direction * eps + std * noise

    return jax.lax.fori_loop(0, num_steps, body, jax.random.normal(rng_init, shape))
  return sample


def dpm_solver(schedule: Schedule, *, num_steps=20, parameterization='eps',
               guidance_scale=1.0, clip_x0=False, **unused):
  """DPM-Solver++(2M) (Lu et al. 2022), data-prediction multistep solver of
  the probability-flow ODE, with `num_steps` network calls.

  The grid is uniform in lambda = log(alpha/sigma) from t = T-1 to t = 0; the
  first step is first order, and the last call's x0 prediction is returned
  (the step from t = 0 to the data, lambda = inf, is first order).
  """
  del unused
  if num_steps < 1:
    raise ValueError(f'config.sampler.num_steps={num_steps} must be >= 1.')

  def sample(fn: Denoiser, rng, shape: Sequence[int], cond=None, uncond=None):
    _check_guidance(guidance_scale, uncond)
    shape = tuple(shape)
    batch = shape[0]
    lam_max = schedule.log_snr[0] / 2
    lam_min = schedule.log_snr[-1] / 2
    lam = jnp.linspace(lam_min, lam_max, num_steps)
    grid = schedule.t_at_log_snr(2 * lam)
    alpha = jnp.sqrt(jax.nn.sigmoid(2 * lam))
    sigma = jnp.sqrt(jax.nn.sigmoid(-2 * lam))

    def denoise(i, x):
      x0, _ = _guided_x0_eps(fn, x, jnp.full((batch,), grid[i]), cond, uncond,
                             jnp.full((batch,), alpha[i]),
                             jnp.full((batch,), sigma[i]), parameterization,
                             guidance_scale, clip_x0)
      return x0

    def body(i, carry):
      x, x0_prev = carry
      x0 = denoise(i, x)
      h = lam[i + 1] - lam[i]
      h_prev = lam[i] - lam[jnp.maximum(i - 1, 0)]
      r = h_prev / h
      second_order = (1 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
      d = jnp.where(i == 0, x0, second_order)
      x_next = (sigma[i + 1] / sigma[i]) * x - alpha[i + 1] * jnp.expm1(-h) * d
      return x_next, x0

    x = jax.random.normal(rng, shape)
    x, _ = jax.lax.fori_loop(0, num_steps - 1, body, (x, jnp.zeros(shape)))
    return denoise(num_steps - 1, x)
  return sample


SAMPLERS = {'ddpm': ddpm, 'ddim': ddim, 'fast': fast, 'dpm_solver': dpm_solver}


def get_sampler(name: str, schedule: Schedule, **kwargs):
  """Returns `sample(fn, rng, shape, cond=None, uncond=None) -> x0`.

  kwargs: parameterization, guidance_scale, clip_x0, and per sampler
  num_steps (ddim, dpm_solver), eta (ddim), fast_betas (fast).
  """
  if name not in SAMPLERS:
    raise ValueError(f'Unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}.')
  return SAMPLERS[name](schedule, **kwargs)


def sampler_from_config(sampler_config, schedule: Schedule, parameterization: str):
  """`get_sampler` with every option read from `config.sampler`."""
  return get_sampler(sampler_config.name, schedule,
                     parameterization=parameterization,
                     num_steps=sampler_config.num_steps, eta=sampler_config.eta,
                     fast_betas=tuple(sampler_config.fast_betas),
                     guidance_scale=sampler_config.guidance_scale,
                     clip_x0=sampler_config.clip_x0)
