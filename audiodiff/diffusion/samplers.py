"""Samplers: from noise back to data, each one loop inside JAX.

The denoiser interface
----------------------
Every sampler is driven by a plain callable

    fn(x_t, t, cond) -> prediction

  x_t:  float [B, ...], the noisy signal (in the prior's coordinates, below);
  t:    float32 [B], the step index on the *trained* schedule, 0 .. T-1,
        possibly fractional (alpha_bar at t comes from
        `Schedule.alpha_bar_at(t)`, log-SNR interpolated linearly);
  cond: whatever conditioning the caller passes (a pytree of arrays, or None);
  returns an array shaped like x_t holding the prediction of the
  parameterization given to the sampler: 'eps' (noise), 'x0' (clean signal) or
  'v' (alpha eps - sigma x0).

A Flax model is wrapped as `lambda x, t, c: model.apply(params, x, t, c)`; an
analytic denoiser (e.g. the exact noise predictor of a Gaussian) works the same.

Using a sampler
---------------
    sample = get_sampler('dpm_solver', schedule, parameterization='eps',
                         num_steps=20)
    x0 = sample(fn, rng, shape, cond=None, uncond=None, prior=None, hooks=None,
                prepare=None)
    sample.num_evals        # network calls per sample (here 20)

`sample` is a pure function; wrap it in `jax.jit` with `fn` and `shape`
closed over. Options are explicit keyword arguments: one a sampler does not
take fails with a message naming it.

- Conditioning pytrees are batch-major (every leaf [B, ...]). `prepare`, if
  given, maps the conditioning once before the loop to what `fn` reads (a
  model's per-utterance precomputation, e.g. DiffWave's mel projections,
  whatever its layout).
- Classifier-free guidance: `guidance_scale` w != 1 and `uncond`, the
  conditioning of the unconditional pass; the prediction is
  uncond + w (cond - uncond), both passes in one batched call. The two
  conditionings are joined along the batch before `prepare`, so a
  precomputed conditioner is always computed for both passes. A
  `Guidance` in place of `uncond` guides parts of the conditioning on their
  own (an attribute each), at one more call per part.
- A data-dependent prior `Prior(mean, scale)` (PriorGrad, Grad-TTS): the
  terminal distribution is N(mean, diag(scale^2)) and the diffusion runs on
  z = (x - mean) / scale, the coordinates `fn` was trained in. None is mean 0,
  scale 1 (bit-identical output). `temperature` scales the starting noise.
- `Hooks(x0=..., step=...)`, both in data coordinates: `x0(x0, x_t, info)`
  may return a corrected x0 prediction at every step (data consistency,
  reconstruction guidance); `step(x, info)` may change x after every step
  (RePaint-style replacement). `info` is a `HookInfo`.
- `clip_x0` clips the predicted x0 (data coordinates) to [-1, 1].

Registered names: 'ddpm' (ancestral over all T steps), 'ddim' (eta),
'fast' (DiffWave fast sampling with a short beta list aligned onto the trained
schedule), 'dpm_solver' (DPM-Solver++(2M) / (3M)), 'heun' (EDM's Heun, with
optional churn). ddim, dpm_solver and heun take a step grid (grids.py).
"""

import dataclasses
import functools
import inspect
import math
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff.diffusion import grids, process
from audiodiff.errors import UserError
from audiodiff.diffusion.schedules import Schedule
from audiodiff.registry import Registry

Denoiser = Callable[[jnp.ndarray, jnp.ndarray, Any], jnp.ndarray]


@functools.partial(jax.tree_util.register_dataclass, data_fields=('mean', 'scale'),
                   meta_fields=())
@dataclasses.dataclass(frozen=True)
class Prior:
  """Terminal distribution N(mean, diag(scale^2)); arrays broadcastable to x."""
  mean: Any = 0.0
  scale: Any = 1.0

  def to_data(self, z):
    """Diffusion coordinates z -> data x = mean + scale z."""
    return self.mean + self.scale * z

  def to_diffusion(self, x):
    """Data x -> diffusion coordinates z = (x - mean) / scale."""
    return (x - self.mean) / self.scale


@dataclasses.dataclass(frozen=True)
class HookInfo:
  """What a hook knows about the current step.

  step: int32 scalar, the loop index (0 at the noisiest step);
  t: float32 [B], the trained-schedule step fed to the network;
  alpha, sigma: float32 scalars of the noise level x_t is at (x0 hook) or x
    has just reached (step hook; alpha = 1, sigma = 0 after the last step);
  denoise: x_t [B, ...] (data coordinates) -> x0 prediction at this step,
    without hooks: differentiate through it for reconstruction guidance.
  """
  step: Any
  t: Any
  alpha: Any
  sigma: Any
  denoise: Optional[Callable] = None


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=('uncond', 'others', 'scales'), meta_fields=())
@dataclasses.dataclass(frozen=True)
class Guidance:
  """Classifier-free guidance against several passes (a sampler's `uncond`).

  uncond: the unconditional pass (guided by the sampler's guidance_scale w,
    as a plain `uncond`), or None;
  others: K conditionings shaped like cond, each with one part left out (an
    attribute);
  scales: [B, K] their guidance scales (1: that part's term is off).
  The prediction is p(u) + w (p(c) - p(u)) + sum_k (scales_k - 1) (p(c) - p(others_k)):
  scale s on a part alone is guidance by s on that part with the rest held.
  """
  uncond: Any
  others: tuple = ()
  scales: Any = None


@dataclasses.dataclass(frozen=True)
class Hooks:
  """x0(x0, x_t, info) -> x0 and step(x, info) -> x, each optional."""
  x0: Optional[Callable] = None
  step: Optional[Callable] = None


# name -> sampler factory(schedule, *, options) -> Sampler; `options_of` lists
# a factory's keyword options.
SAMPLERS = Registry('config.sampler.name')


class Sampler:
  """A sampling function with its network-call count.

  __call__(fn, rng, shape, cond=None, uncond=None, prior=None, hooks=None,
  prepare=None, init=None) -> x0 [shape] in data coordinates. rng: one key, or
  one raw key per output [N, 2] (`random_normal`). `init`, if
  given, replaces the starting noise: a state [shape] at the first noise
  level, `start` = (alpha, sigma), in diffusion coordinates (data
  coordinates without a prior): alpha * x + sigma * eps starts from a guess
  x (SDEdit, on a schedule cut short so that level is low).
  """

  def __init__(self, loop, num_evals: int, name: str, start=(0.0, 1.0)):
    self._loop = loop
    self.num_evals = num_evals
    self.name = name
    self.start = start

  def __call__(self, fn: Denoiser, rng, shape: Sequence[int], cond=None, uncond=None,
               prior: Optional[Prior] = None, hooks: Optional[Hooks] = None,
               prepare: Optional[Callable] = None, init=None):
    return self._loop(fn, rng, tuple(shape), (cond, uncond, prepare), prior,
                      hooks or Hooks(), init)

  def __repr__(self):
    return f'Sampler({self.name}, num_evals={self.num_evals})'

  def describe(self) -> str:
    """'ddim, 20 network calls' (one call: 'call')."""
    return f'{self.name}, {self.num_evals} network call{"s" * (self.num_evals != 1)}'


class _Denoiser:
  """One network call in diffusion coordinates, with guidance, clipping and the
  x0 hook: z [B, ...], t [B] -> (z0, eps) predictions."""

  def __init__(self, fn, conditioning, prior, hooks, parameterization,
               guidance_scale, clip_x0):
    cond, uncond, prepare = conditioning
    prepare = prepare or (lambda c: c)
    guided = uncond if isinstance(uncond, Guidance) else Guidance(uncond)
    if guidance_scale != 1.0 and guided.uncond is None:
      raise UserError('Classifier-free guidance (guidance_scale != 1) needs '
                       '`uncond`, the conditioning of the unconditional pass.')
    # One batched call over the passes: cond, uncond (when guided), the others.
    passes = [cond] + [guided.uncond] * (guidance_scale != 1.0) + list(guided.others)
    self.num_passes, self.num_others = len(passes), len(guided.others)
    self.passes = prepare(jax.tree.map(lambda *c: jnp.concatenate(c), *passes))
    self.scales = guided.scales
    self.fn, self.prior, self.hooks = fn, prior, hooks
    self.parameterization = parameterization
    self.guidance_scale, self.clip_x0 = guidance_scale, clip_x0

  def _prediction(self, z, t):
    if self.num_passes == 1:
      return self.fn(z, t, self.passes)
    repeat = lambda a: jnp.concatenate([a] * self.num_passes)
    outputs = jnp.split(self.fn(repeat(z), repeat(t), self.passes), self.num_passes)
    # Predictions are linear in (x0, eps) given x_t, so mixing them here is
    # the same as mixing in eps space.
    conditional = prediction = outputs[0]
    if self.guidance_scale != 1.0:
      unconditional = outputs[1]
      prediction = unconditional + self.guidance_scale * (conditional - unconditional)
    for k, other in enumerate(outputs[self.num_passes - self.num_others:]):
      weight = (self.scales[:, k] - 1.0).reshape((-1,) + (1,) * (z.ndim - 1))
      prediction = prediction + weight * (conditional - other)
    return prediction

  def to_data(self, z):
    """Diffusion coordinates -> data (the identity without a prior)."""
    return z if self.prior is None else self.prior.to_data(z)

  def _diffusion(self, x):
    return x if self.prior is None else self.prior.to_diffusion(x)

  def __call__(self, step, z, t, alpha, sigma):
    """step: loop index; z [B, ...]; t [B]; alpha, sigma scalars -> (z0, eps)."""
    batch_alpha = jnp.full(z.shape[:1], alpha)
    batch_sigma = jnp.full(z.shape[:1], sigma)

    def z0_eps(z_t):
      return process.to_x0_eps(self._prediction(z_t, t).astype(jnp.float32), z_t,
                                 batch_alpha, batch_sigma, self.parameterization)

    z0, eps = z0_eps(z)
    if not self.clip_x0 and self.hooks.x0 is None:
      return z0, eps
    x0 = self.to_data(z0)
    if self.clip_x0:
      x0 = jnp.clip(x0, -1.0, 1.0)
    if self.hooks.x0 is not None:
      denoise = lambda x_t: self.to_data(z0_eps(self._diffusion(x_t))[0])
      info = HookInfo(step=step, t=t, alpha=alpha, sigma=sigma, denoise=denoise)
      x0 = self.hooks.x0(x0, self.to_data(z), info)
    z0 = self._diffusion(x0)
    return z0, (z - alpha * z0) / sigma

  def after_step(self, step, z, t, alpha, sigma):
    """Applies the step hook to z, now at noise level (alpha, sigma)."""
    if self.hooks.step is None:
      return z
    info = HookInfo(step=step, t=t, alpha=alpha, sigma=sigma)
    return self._diffusion(self.hooks.step(self.to_data(z), info))


# A sampler's randomness: `rng` is one key, or one raw key per output [N, 2]
# (`run/sampling.py`: then output i's noise does not depend on the batch it
# is drawn in). These take either form and give back the same form.
def _per_output(rng):
  return jnp.ndim(rng) == 2


def random_split(rng):
  """rng -> (two keys), each of rng's form."""
  if _per_output(rng):
    first, second = jnp.swapaxes(jax.vmap(jax.random.split)(rng), 0, 1)
    return first, second
  first, second = jax.random.split(rng)
  return first, second


def random_fold_in(rng, data):
  """fold_in of each key."""
  if _per_output(rng):
    return jax.vmap(lambda key: jax.random.fold_in(key, data))(rng)
  return jax.random.fold_in(rng, data)


def random_normal(rng, shape):
  """Standard normal [shape]; with per-output keys, row i from key i."""
  if _per_output(rng):
    return jax.vmap(lambda key: jax.random.normal(key, tuple(shape[1:])))(rng)
  return jax.random.normal(rng, shape)


def _initial_noise(rng, shape, temperature, init=None):
  """The (tempered) starting noise [shape], or `init` where given."""
  if init is not None:
    return jnp.asarray(init, jnp.float32).reshape(shape)
  noise = random_normal(rng, shape)
  return noise if temperature == 1.0 else temperature * noise


def _stepping_loop(num_steps, step, *, parameterization, guidance_scale, clip_x0,
                   temperature):
  """A sampler loop of num_steps calls of step(denoise, i, z, noise_rng) -> z,
  from the (tempered) starting noise, returning data coordinates."""

  def loop(fn, rng, shape, conditioning, prior, hooks, init):
    denoise = _Denoiser(fn, conditioning, prior, hooks, parameterization,
                        guidance_scale, clip_x0)
    rng_init, rng_loop = random_split(rng)
    body = lambda i, z: step(denoise, i, z, random_fold_in(rng_loop, i))
    z = jax.lax.fori_loop(0, num_steps, body,
                          _initial_noise(rng_init, shape, temperature, init))
    return denoise.to_data(z)

  return loop


def _ancestral_loop(net_t, alpha_bar, **options):
  """Ancestral sampling down a sampling schedule.

  Args:
    net_t: [N] trained-schedule step fed to the network at sampling step n.
    alpha_bar: [N] alpha_bar of the sampling schedule (equal to the trained
      alpha_bar at net_t); step n goes from alpha_bar[n] to alpha_bar[n-1]
      (1 for n = 0) with the posterior variance as noise.
    options: parameterization, guidance_scale, clip_x0, temperature.
  """
  alpha_bar = jnp.asarray(alpha_bar, jnp.float32)
  net_t = jnp.asarray(net_t, jnp.float32)
  alpha_bar_prev = jnp.concatenate([jnp.ones((1,)), alpha_bar[:-1]])
  num = alpha_bar.shape[0]

  def step(denoise, i, z, noise_rng):
    n = num - 1 - i
    ab, ab_prev = alpha_bar[n], alpha_bar_prev[n]
    t = jnp.full(z.shape[:1], net_t[n])
    z0, _ = denoise(i, z, t, jnp.sqrt(ab), jnp.sqrt(1.0 - ab))
    coef_x0, coef_xt, variance = process.posterior_coefficients(ab, ab_prev)
    noise = random_normal(noise_rng, z.shape)
    z = coef_x0 * z0 + coef_xt * z + jnp.sqrt(variance) * noise
    return denoise.after_step(i, z, t, jnp.sqrt(ab_prev), jnp.sqrt(1.0 - ab_prev))

  return _stepping_loop(num, step, **options)


@SAMPLERS.register('ddpm')
def ddpm(schedule: Schedule, *, parameterization='eps', guidance_scale=1.0,
         clip_x0=False, temperature=1.0):
  """DDPM ancestral sampling over all T trained steps (T network calls)."""
  loop = _ancestral_loop(jnp.arange(schedule.num_steps, dtype=jnp.float32),
                         schedule.alpha_bar, parameterization=parameterization,
                         guidance_scale=guidance_scale, clip_x0=clip_x0,
                         temperature=temperature)
  return Sampler(loop, schedule.num_steps, 'ddpm', start=noise_level(schedule.alpha_bar[-1]))


def align_fast_schedule(schedule: Schedule, fast_betas) -> tuple:
  """Places a short beta list on the trained schedule (DiffWave, Kong et al.).

  Returns (net_t [N], alpha_bar [N]): the fast schedule's own alpha_bar and the
  fractional trained step with the same alpha_bar, fed to the network.
  """
  try:
    fast_betas = np.asarray(fast_betas, np.float64)
  except (TypeError, ValueError):
    fast_betas = np.asarray([np.nan])
  if fast_betas.ndim != 1 or not len(fast_betas) or not np.all(
      (fast_betas > 0) & (fast_betas < 1)):
    raise UserError('config.sampler.fast_betas must be a non-empty list of betas in (0, 1), '
                    'e.g. (1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5).')
  fast_alpha_bar = np.cumprod(1.0 - fast_betas)
  trained = np.asarray(schedule.alpha_bar, np.float64)
  if fast_alpha_bar[-1] < trained[-1] * (1 - 1e-3) or fast_alpha_bar[0] > 1.0:
    raise UserError(
        f'config.sampler.fast_betas reach alpha_bar={fast_alpha_bar[-1]:.3g}, '
        f'beyond the trained schedule (alpha_bar_T={trained[-1]:.3g}). Use a '
        'fast beta list whose cumulative product stays within the trained one.')
  log_snr = np.log(fast_alpha_bar) - np.log1p(-fast_alpha_bar)
  net_t = schedule.t_at_log_snr(jnp.asarray(log_snr, jnp.float32))
  return net_t, jnp.asarray(fast_alpha_bar, jnp.float32)


@SAMPLERS.register('fast')
def fast(schedule: Schedule, *, fast_betas=(1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5),
         parameterization='eps', guidance_scale=1.0, clip_x0=False, temperature=1.0):
  """DiffWave fast sampling: ancestral steps on a short user beta list."""
  net_t, alpha_bar = align_fast_schedule(schedule, fast_betas)
  loop = _ancestral_loop(net_t, alpha_bar, parameterization=parameterization,
                         guidance_scale=guidance_scale, clip_x0=clip_x0,
                         temperature=temperature)
  return Sampler(loop, len(fast_betas), 'fast', start=noise_level(alpha_bar[-1]))


def noise_level(alpha_bar):
  """(alpha, sigma) of a variance-preserving noise level."""
  return jnp.sqrt(alpha_bar), jnp.sqrt(1.0 - alpha_bar)


def _grid_points(schedule: Schedule, grid: str, num_points: int):
  """(lambda [n], trained steps t [n], alpha [n], sigma [n]) of a grid."""
  lam = grids.get_grid(grid, schedule, num_points)
  return (lam, schedule.t_at_log_snr(2 * lam), jnp.sqrt(jax.nn.sigmoid(2 * lam)),
          jnp.sqrt(jax.nn.sigmoid(-2 * lam)))


@SAMPLERS.register('ddim')
def ddim(schedule: Schedule, *, num_steps=50, eta=0.0, grid='uniform_t',
         parameterization='eps', guidance_scale=1.0, clip_x0=False, temperature=1.0):
  """DDIM (Song et al. 2021): `num_steps` calls on a grid (default: evenly
  spaced trained steps), the last step to the data; eta=0 is deterministic,
  eta=1 matches ancestral sampling's noise level."""
  if num_steps < 1:
    raise UserError(f'config.sampler.num_steps={num_steps} must be >= 1.')
  _, net_t, alpha, _ = _grid_points(schedule, grid, num_steps)
  alpha_bar = alpha ** 2
  alpha_bar_next = jnp.concatenate([alpha_bar[1:], jnp.ones((1,))])

  def step(denoise, i, z, noise_rng):
    ab, ab_next = alpha_bar[i], alpha_bar_next[i]
    t = jnp.full(z.shape[:1], net_t[i])
    z0, eps = denoise(i, z, t, jnp.sqrt(ab), jnp.sqrt(1.0 - ab))
    std = eta * jnp.sqrt((1.0 - ab_next) / (1.0 - ab) * (1.0 - ab / ab_next))
    direction = jnp.sqrt(jnp.maximum(1.0 - ab_next - std ** 2, 0.0))
    noise = random_normal(noise_rng, z.shape)
    z = jnp.sqrt(ab_next) * z0 + direction * eps + std * noise
    return denoise.after_step(i, z, t, jnp.sqrt(ab_next), jnp.sqrt(1.0 - ab_next))

  loop = _stepping_loop(num_steps, step, parameterization=parameterization,
                        guidance_scale=guidance_scale, clip_x0=clip_x0,
                        temperature=temperature)
  return Sampler(loop, num_steps, 'ddim', start=noise_level(alpha_bar[0]))


def _multistep_update(z, lam, alpha, sigma, i, x0s, order):
  """One DPM-Solver++ multistep update from grid point i to i + 1.

  x0s = (m0, m1, m2): the x0 predictions at points i, i-1, i-2; order 1, 2
  or 3 (a traced int). The updates of Lu et al. 2022 ("DPM-Solver++", eqs.
  for 2M; 3M as in the authors' multistep_dpm_solver_third_update), with
  h = lam[i+1] - lam[i], r0 = h_0 / h, r1 = h_1 / h for the previous spans.
  """
  m0, m1, m2 = x0s
  h = lam[i + 1] - lam[i]
  h0 = lam[i] - lam[jnp.maximum(i - 1, 0)]
  h1 = lam[jnp.maximum(i - 1, 0)] - lam[jnp.maximum(i - 2, 0)]
  r0, r1 = h0 / h, h1 / h
  phi1 = jnp.expm1(-h)
  first = (sigma[i + 1] / sigma[i]) * z - alpha[i + 1] * phi1 * m0
  d1_0 = (m0 - m1) / jnp.where(order >= 2, r0, 1.0)
  second = first - 0.5 * alpha[i + 1] * phi1 * d1_0
  d1_1 = (m1 - m2) / jnp.where(order >= 3, r1, 1.0)
  d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
  d2 = (d1_0 - d1_1) / (r0 + r1)
  phi2 = phi1 / h + 1.0
  phi3 = phi2 / h - 0.5
  third = first + alpha[i + 1] * phi2 * d1 - alpha[i + 1] * phi3 * d2
  return jnp.where(order == 1, first, jnp.where(order == 2, second, third))


@SAMPLERS.register('dpm_solver')
def dpm_solver(schedule: Schedule, *, num_steps=20, order=3, grid='log_snr',
               parameterization='eps', guidance_scale=1.0, clip_x0=False, temperature=1.0):
  """DPM-Solver++(2M) or (3M) (Lu et al. 2022), the data-prediction multistep
  solver of the probability-flow ODE, with `num_steps` network calls.

  The network is called at the grid's num_steps points; steps between them
  use up to `order` previous x0 predictions (the first steps lower order, as
  do the last ones when num_steps < 15, the authors' "lower_order_final");
  the last call's x0 prediction is returned (the step from the grid's
  cleanest point to the data is first order).
  """
  if num_steps < 1:
    raise UserError(f'config.sampler.num_steps={num_steps} must be >= 1.')
  if order not in (1, 2, 3):
    raise UserError(f'config.sampler.order={order} must be 1, 2 or 3.')
  lam, net_t, alpha, sigma = _grid_points(schedule, grid, num_steps)
  transitions = num_steps - 1

  def loop(fn, rng, shape, conditioning, prior, hooks, init):
    denoise = _Denoiser(fn, conditioning, prior, hooks, parameterization,
                        guidance_scale, clip_x0)
    batch = shape[0]

    def x0_at(i, z):
      return denoise(i, z, jnp.full((batch,), net_t[i]), alpha[i], sigma[i])[0]

    def body(i, carry):
      z, m1, m2 = carry
      m0 = x0_at(i, z)
      step_order = jnp.minimum(order, i + 1)
      if num_steps < 15:
        step_order = jnp.minimum(step_order, transitions - i)
      z = _multistep_update(z, lam, alpha, sigma, i, (m0, m1, m2), step_order)
      z = denoise.after_step(i, z, jnp.full((batch,), net_t[i + 1]), alpha[i + 1], sigma[i + 1])
      return z, m0, m1

    # The same starting noise as every other sampler for the same rng.
    z = _initial_noise(random_split(rng)[0], shape, temperature, init)
    zeros = jnp.zeros(shape)
    z, _, _ = jax.lax.fori_loop(0, transitions, body, (z, zeros, zeros))
    z = x0_at(transitions, z)
    z = denoise.after_step(transitions, z, jnp.zeros((batch,)), 1.0, 0.0)
    return denoise.to_data(z)

  return Sampler(loop, num_steps, f'dpm_solver{order}', start=(alpha[0], sigma[0]))


@SAMPLERS.register('heun')
def heun(schedule: Schedule, *, num_steps=19, grid='karras', churn=0.0,
         parameterization='eps', guidance_scale=1.0, clip_x0=False, temperature=1.0):
  """EDM's 2nd-order Heun sampler (Karras et al. 2022, Algorithm 2), with
  optional stochastic churn (S_churn; S_tmin = 0, S_tmax = inf, S_noise = 1).

  Runs in EDM coordinates x = z / alpha, sigma_edm = sigma / alpha =
  exp(-lambda), on the grid's n = (num_steps + 1) // 2 points followed by
  sigma = 0: each step is an Euler step plus a Heun correction, except the
  last (to sigma = 0), so the network is called 2n - 1 = num_steps times
  (an odd number).
  """
  if num_steps < 1:
    raise UserError(f'config.sampler.num_steps={num_steps} must be >= 1.')
  if churn < 0:
    raise UserError(f'config.sampler.churn={churn} must be >= 0.')
  if num_steps % 2 == 0:
    raise UserError(f'config.sampler.num_steps={num_steps}: heun calls the network an odd '
                    f'number of times; give {num_steps - 1} or {num_steps + 1}.')
  points = (num_steps + 1) // 2
  lam = grids.get_grid(grid, schedule, points)
  sigmas = jnp.concatenate([jnp.exp(-lam), jnp.zeros((1,))])
  gamma = min(churn / points, math.sqrt(2.0) - 1.0)

  def loop(fn, rng, shape, conditioning, prior, hooks, init):
    denoise = _Denoiser(fn, conditioning, prior, hooks, parameterization,
                        guidance_scale, clip_x0)
    rng_init, rng_loop = random_split(rng)
    batch = shape[0]

    def x0_at(i, x, sigma_edm):
      """D(x; sigma_edm): the x0 prediction at EDM noise level sigma_edm."""
      alpha = jax.lax.rsqrt(1.0 + sigma_edm ** 2)
      t = schedule.t_at_log_snr(jnp.full((batch,), -2.0 * jnp.log(sigma_edm)))
      return denoise(i, alpha * x, t, alpha, alpha * sigma_edm)[0]

    def body(i, x):
      sigma, sigma_next = sigmas[i], sigmas[i + 1]
      sigma_hat = sigma * (1.0 + gamma)
      if gamma > 0:
        noise = random_normal(random_fold_in(rng_loop, i), shape)
        x = x + jnp.sqrt(sigma_hat ** 2 - sigma ** 2) * noise
      slope = (x - x0_at(i, x, sigma_hat)) / sigma_hat
      x_next = x + (sigma_next - sigma_hat) * slope

      def corrected():
        slope_next = (x_next - x0_at(i, x_next, sigma_next)) / sigma_next
        return x + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)

      x = jax.lax.cond(i < points - 1, corrected, lambda: x_next)
      alpha_next = jax.lax.rsqrt(1.0 + sigma_next ** 2)
      z = denoise.after_step(i, alpha_next * x, jnp.zeros((batch,)), alpha_next,
                             alpha_next * sigma_next)
      return z / alpha_next

    # x = z / alpha at the first level: noise scaled, or init's state.
    x = _initial_noise(rng_init, shape, temperature, init) * jnp.sqrt(1.0 + sigmas[0] ** 2)
    z = jax.lax.fori_loop(0, points, body, x)
    return denoise.to_data(z)

  return Sampler(loop, 2 * points - 1, 'heun', start=noise_level(1.0 / (1.0 + sigmas[0] ** 2)))


def options_of(name: str) -> tuple:
  """The keyword options sampler `name` takes."""
  parameters = inspect.signature(SAMPLERS.get(name)).parameters.values()
  return tuple(p.name for p in parameters if p.kind == p.KEYWORD_ONLY)


def get_sampler(name: str, schedule: Schedule, **options) -> Sampler:
  """The sampler `name` with explicit `options` (see each sampler's signature;
  `options_of(name)` lists them). An option it does not take is an error."""
  unknown = sorted(set(options) - set(options_of(name)))
  if unknown:
    raise UserError(f'Sampler {name!r} takes no option {", ".join(map(repr, unknown))}; '
                     f'its options: {", ".join(options_of(name))}.')
  return SAMPLERS.get(name)(schedule, **options)


def sampler_from_config(sampler_config, schedule: Schedule, parameterization: str) -> Sampler:
  """`get_sampler` with the options the chosen sampler takes read from
  `config.sampler` (the others, e.g. num_steps for 'ddpm', do not apply)."""
  name = sampler_config.name
  options = {'parameterization': parameterization}
  for option in options_of(name):
    if option == 'grid' and not sampler_config.grid:
      continue  # '': the sampler's own default grid
    if option in sampler_config:
      value = sampler_config[option]
      options[option] = tuple(value) if isinstance(value, (list, tuple)) else value
  return get_sampler(name, schedule, **options)
