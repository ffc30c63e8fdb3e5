"""Drawing samples from a trained network: one jitted function per model.

    generate = make_generate_fn(exp)
    x = generate(params, rng, first, request.cond, request.uncond, request.prior,
                 shape=request.shape)     # [N, ...]; output i from key fold_in(rng, first + i)

Pure: no files (outputs.py writes them), no task knowledge beyond the
request. A model's per-utterance conditioner (`condition`, e.g. DiffWave's
mel projections) is the sampler's `prepare`: the sampler applies it after
joining the conditional and unconditional conditioning, so classifier-free
guidance stays correct with it.
"""

import functools

import jax
import jax.numpy as jnp


def make_generate_fn(exp, hooks_of=None):
  """Returns jitted generate(params, rng, first, cond, uncond, prior,
  measurement=None, *, shape) -> x [N, ...].

  Output i draws its noise from its own key fold_in(rng, first + i)
  (`samplers.random_normal`): the same seed gives the same output i however
  the request is cut into batches, and the network still runs on the whole
  batch. hooks_of, if given, maps the measurement [N, ...] to the
  samplers.Hooks that steer the sampler (e.g. a continuation).
  """

  @functools.partial(jax.jit, static_argnames='shape')
  def generate(params, rng, first, cond, uncond, prior, measurement=None, *, shape):
    fn = lambda x, t, c: exp.apply_fn(params, x, t, c)
    if not exp.task.uses_diffusion():
      # A predictive baseline: one call on the prior's mean (the measurement).
      return exp.task.predict(fn, prior.mean, cond)
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, first + i))(jnp.arange(shape[0]))
    hooks = None if hooks_of is None else hooks_of(measurement)
    return exp.sampler(fn, keys, shape, cond, uncond, prior, hooks,
                       prepare=lambda c: exp.condition(params, c))

  return generate
