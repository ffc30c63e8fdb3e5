"""Drawing samples from a trained network: one jitted function per model.

    generate = make_generate_fn(exp)
    x = generate(params, rng, request.cond, request.uncond, request.prior,
                 shape=request.shape)                       # [N, ...]

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

  @functools.partial(jax.jit, static_argnames='shape')
  def generate(params, rng, cond, uncond, prior, *, shape):
    fn = lambda x, t, c: exp.apply_fn(params, x, t, c)
    if not exp.task.uses_diffusion():
      # A predictive baseline: one call on the prior's mean (the measurement).
      del rng, uncond, shape
      return exp.task.predict(fn, prior.mean, cond)
    return exp.sampler(fn, rng, shape, cond, uncond, prior, hooks,
                       prepare=lambda c: exp.condition(params, c))

  return generate
