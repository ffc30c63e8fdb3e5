"""Drawing samples from a trained network: one jitted function per model.

    generate = make_generate_fn(exp)
    x = generate(params, rng, request.cond, request.uncond, request.prior,
                 shape=request.shape)                       # [N, ...]
    generate_each = make_generate_each_fn(exp)              # output i from its own
    x = generate_each(params, rng, first, ..., shape=...)   # key: any batching agrees

Pure: no files (outputs.py writes them), no task knowledge beyond the
request. A model's per-utterance conditioner (`condition`, e.g. DiffWave's
mel projections) is the sampler's `prepare`: the sampler applies it after
joining the conditional and unconditional conditioning, so classifier-free
guidance stays correct with it.
"""

import functools

import jax


def make_generate_fn(exp, hooks=None):
  """Returns jitted generate(params, rng, cond, uncond, prior, *, shape) -> x.

  exp: an experiment.Experiment (its model, sampler). hooks: optional
  samplers.Hooks closed over (measurement-conditioned sampling).
  """

  return jax.jit(functools.partial(_generate, exp, hooks), static_argnames='shape')


def _generate(exp, hooks, params, rng, cond, uncond, prior, *, shape):
  fn = lambda x, t, c: exp.apply_fn(params, x, t, c)
  if not exp.task.uses_diffusion():
    # A predictive baseline: one call on the prior's mean (the measurement).
    del rng, uncond, shape
    return exp.task.predict(fn, prior.mean, cond)
  return exp.sampler(fn, rng, shape, cond, uncond, prior, hooks,
                     prepare=lambda c: exp.condition(params, c))


def make_generate_each_fn(exp, hooks_of=None):
  """Returns jitted generate_each(params, rng, first, cond, uncond, prior,
  measurement=None, *, shape) -> x [N, ...], where output i is drawn with its
  own key fold_in(rng, first + i): the same seed gives the same output i
  however the request is cut into batches. Leaves of cond/uncond/prior whose
  leading axis is N are per output; other leaves are shared. hooks_of, if
  given, maps output i's measurement [1, ...] to its samplers.Hooks
  (measurement-conditioned sampling, e.g. a continuation)."""

  @functools.partial(jax.jit, static_argnames='shape')
  def generate_each(params, rng, first, cond, uncond, prior, measurement=None, *, shape):
    count = shape[0]
    axis = lambda leaf: 0 if jax.numpy.ndim(leaf) and leaf.shape[0] == count else None
    axes = jax.tree.map(axis, (cond, uncond, prior, measurement))

    def one(key, inputs):
      # Back to a batch of one: the vmapped leaves lost their leading axis.
      cond, uncond, prior, y = jax.tree.map(
          lambda leaf, a: leaf if a is None else leaf[None], inputs, axes)
      hooks = None if hooks_of is None else hooks_of(y)
      return _generate(exp, hooks, params, key, cond, uncond, prior,
                       shape=(1,) + tuple(shape[1:]))[0]

    keys = jax.vmap(lambda i: jax.random.fold_in(rng, first + i))(jax.numpy.arange(count))
    return jax.vmap(one, in_axes=(0, axes))(keys, (cond, uncond, prior, measurement))

  return generate_each
