"""Posterior sampling: a trained prior's sampler, steered by a measurement.

Every method is a `samplers.Hooks` built from an operator (operators.py)
and the measurement y, so it runs with every sampler and every task's prior:

  'projection'  data consistency on the x0 prediction at every step
                (DDNM; CQTdiff's "data consistency"): x0 <- project(x0, y).
                Exact consistency at the end for masks and brick-wall filters.
  'dps'         reconstruction guidance (Chung et al.'s DPS; Moliner et
                al.'s CQTdiff): x0 <- x0 - xi sigma_edm sqrt(N) g / |g|, with
                g = grad_{x_t} |residual(D(x_t), y)|^2 through the denoiser D
                and sigma_edm = sigma / alpha: CQTdiff's step, normalised by
                the gradient's norm, so it does not depend on the sampler's
                step sizes. (The DPS paper scales the squared error's gradient
                by zeta' / |residual| on each ancestral step; its code takes
                the gradient of the unsquared norm, the same up to a factor 2.)
                xi = config.restore.guidance, default 0.01 (measured: larger
                steps ruin the held-out speech table's gap SNR and LSD).
  'pigdm'       Pi-GDM (Song et al. 2023): the Gaussian likelihood
                p(y | x_t) = N(A D(x_t), r_t^2 A A^T + sigma_y^2 I),
                r_t^2 = s^2 sigma^2 / (alpha^2 s^2 + sigma^2) (the posterior
                variance of x0 under a N(0, s^2) prior; s = data_std), and
                x0 <- x0 + w grad_{x_t} log p with w = sigma^2 / alpha, the
                score correction seen on x0: exact for an i.i.d. Gaussian
                prior. A trained network's Jacobian at high noise is far
                larger than a Gaussian's, and that w then explodes as
                alpha -> 0, so w is capped at r_t^2 (the step becomes
                J^T A^+ (y - A D(x_t)), the pseudo-inverse guidance
                itself). Reference code (azula's PGDMSampler) instead adds
                alpha_s alpha_t J^T A^+ (y - A D) to DDIM's next state.
  'repaint'     RePaint replacement (Lugmayr et al. 2022): after each step
                the measured part of x is replaced by the measurement noised to
                that step's level; `resample` > 1 adds RePaint's jumps back
                (an ancestral loop of its own, `repaint_sampler`).

For clipping (not linear) the linear algebra uses the reliable samples and
the x0 hook also projects onto the clipping inequalities.
"""

import jax
import jax.numpy as jnp

from audiodiff.diffusion import process, samplers
from audiodiff.errors import UserError
from audiodiff.restoration import operators

METHODS = ('projection', 'dps', 'pigdm', 'repaint')
MAX_PIGDM_WEIGHT = 1.0


def _per_example_norm(v):
  return jnp.sqrt(jnp.sum(jnp.square(v), axis=tuple(range(1, v.ndim)), keepdims=True))


def _inequalities(op, x0, y):
  """Clipping: project the x0 prediction onto its consistent set (the other
  operators' methods handle their measurement themselves)."""
  return op.project(x0, y) if isinstance(op, operators.Clipping) else x0


def projection_hooks(op, y):
  return samplers.Hooks(x0=lambda x0, x_t, info: op.project(x0, y))


def dps_hooks(op, y, guidance=0.01):
  def x0_hook(x0, x_t, info):
    error = lambda x: jnp.sum(jnp.square(op.residual(info.denoise(x), y)))
    grad = jax.grad(error)(x_t)
    size = jnp.sqrt(jnp.asarray(grad[0].size, jnp.float32))
    direction = grad / jnp.maximum(_per_example_norm(grad), 1e-20)
    x0 = x0 - guidance * (info.sigma / info.alpha) * size * direction
    return _inequalities(op, x0, y)
  return samplers.Hooks(x0=x0_hook)


def pigdm_hooks(op, y, data_std, noise_std=0.0, guidance=1.0, max_weight=None):
  linear = op.linear_part()

  def x0_hook(x0, x_t, info):
    alpha, sigma = info.alpha, info.sigma
    r2 = data_std ** 2 * sigma ** 2 / (alpha ** 2 * data_std ** 2 + sigma ** 2)
    x0_pred, vjp = jax.vjp(info.denoise, x_t)
    # (r2 A A^T + s_y^2 I)^-1 = (A A^T + s_y^2 / r2 I)^-1 / r2
    ratio = (noise_std ** 2 + 1e-12) / jnp.maximum(r2, 1e-20)
    v = linear.adjoint(linear.solve(y - linear(x0_pred), ratio)) / jnp.maximum(r2, 1e-20)
    score = vjp(v)[0]
    # sigma^2 / alpha maps the score to x0; capped, since a network's
    # Jacobian at high noise is far larger than a Gaussian's (which is
    # ~ alpha s^2 / sigma^2) and the uncapped step then explodes as alpha -> 0.
    x0 = x0 + guidance * jnp.minimum(sigma ** 2 / alpha, (max_weight or MAX_PIGDM_WEIGHT) * r2) * score
    return _inequalities(op, x0, y)
  return samplers.Hooks(x0=x0_hook)


def repaint_hooks(op, y, rng):
  linear = op.linear_part()

  def step_hook(x, info):
    noise = jax.random.normal(jax.random.fold_in(rng, info.step), x.shape)
    known = info.alpha * y + info.sigma * noise
    return linear.project(x, linear(known))
  return samplers.Hooks(step=step_hook)


def make_hooks(method, op, y, *, rng, data_std, guidance, noise_std=0.0):
  """The hooks of `method` (one of METHODS) for measurement y [B, L]."""
  if method == 'projection':
    return projection_hooks(op, y)
  if method == 'dps':
    return dps_hooks(op, y, guidance)
  if method == 'pigdm':
    return pigdm_hooks(op, y, data_std, noise_std, guidance)
  if method == 'repaint':
    return repaint_hooks(op, y, rng)
  raise UserError(f'config.restore.method={method!r} must be one of {METHODS} '
                  "or 'baseline'.")


def repaint_sampler(schedule, *, num_steps, resample, jump=1, parameterization='eps'):
  """RePaint with resampling: an ancestral loop on `num_steps` evenly spaced
  trained steps; every `jump` steps down the last `jump` are undone (noised
  back up) and redone, `resample` times in all, before moving on.

  Returns a samplers.Sampler (its hooks: the replacement, from
  repaint_hooks); network calls: about num_steps * resample.
  """
  if resample < 1 or jump < 1:
    raise UserError('config.restore.resample and config.restore.jump must be >= 1.')
  net_t = jnp.linspace(schedule.num_steps - 1, 0, num_steps).round()
  alpha_bar_all = schedule.alpha_bar
  alpha_bar = alpha_bar_all[net_t.astype(jnp.int32)]
  alpha_bar_next = jnp.concatenate([alpha_bar[1:], jnp.ones((1,))])
  # The visiting order: each block of `jump` steps is walked `resample` times.
  order = []   # (step index, the block's first step to go back to, or -1)
  for start in range(0, num_steps, jump):
    block = list(range(start, min(start + jump, num_steps)))
    for r in range(resample):
      order += [(i, start if r < resample - 1 and i == block[-1] else -1) for i in block]
  indices = jnp.asarray([i for i, _ in order])
  back_to = jnp.asarray([b for _, b in order])

  def loop(fn, rng, shape, conditioning, prior, hooks, init):
    denoise = samplers._Denoiser(fn, conditioning, prior, hooks, parameterization,
                                 1.0, False)
    rng_init, rng_loop = samplers.random_split(rng)

    def body(k, z):
      i = indices[k]
      ab, ab_next = alpha_bar[i], alpha_bar_next[i]
      t = jnp.full(shape[:1], net_t[i])
      z0, _ = denoise(k, z, t, jnp.sqrt(ab), jnp.sqrt(1 - ab))
      c0, ct, var = process.posterior_coefficients(ab, ab_next)
      noise_rng, back_rng = samplers.random_split(samplers.random_fold_in(rng_loop, k))
      z = c0 * z0 + ct * z + jnp.sqrt(var) * samplers.random_normal(noise_rng, shape)
      z = denoise.after_step(k, z, t, jnp.sqrt(ab_next), jnp.sqrt(1 - ab_next))
      target = back_to[k]
      ab_back = alpha_bar[jnp.maximum(target, 0)]
      ratio = ab_back / ab_next
      renoised = jnp.sqrt(ratio) * z + jnp.sqrt(1 - ratio) * samplers.random_normal(back_rng,
                                                                                    shape)
      return jnp.where(target >= 0, renoised, z)

    z = samplers._initial_noise(rng_init, shape, 1.0, init)
    return denoise.to_data(jax.lax.fori_loop(0, len(order), body, z))

  return samplers.Sampler(loop, len(order), f'repaint{resample}',
                          start=samplers.noise_level(alpha_bar[0]))
