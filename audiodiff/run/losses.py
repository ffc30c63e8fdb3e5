"""The training loss: the diffusion term plus a task's own terms, each named.

    loss_fn = make_loss_fn(exp)
    total, metrics = loss_fn(params, batch, rng, train=True, frozen=None)

metrics holds 'loss' (the weighted total), 'loss/diffusion', one
'loss/<name>' per task term (unweighted) and 'loss/diffusion_unweighted'
(the diffusion term without SNR weighting); a task that does not use
diffusion (a predictive baseline) has only its own terms.
"""

import jax
import jax.numpy as jnp

from audiodiff.diffusion import process


def make_loss_fn(exp):
  """Returns loss_fn(params, batch, rng, *, train, frozen=None, step=None) ->
  (total, metrics).

  batch: {feature: [B, ...]} as the task's features; rng a PRNG key (the
  task's conditioning, the diffusion noise and dropout get their own keys);
  step: the training step, passed on to the task's extra_losses.
  """
  config, task = exp.config, exp.task
  term = process.diffusion_loss(
      exp.schedule, parameterization=config.diffusion.prediction,
      loss_type=config.diffusion.loss, snr_weighting=config.diffusion.snr_weighting,
      min_snr_gamma=config.diffusion.min_snr_gamma)
  weights = task.loss_weights()

  def loss_fn(params, batch, rng, *, train: bool, frozen=None, step=None):
    cond_rng, diffusion_rng, dropout_rng, task_rng = jax.random.split(rng, 4)
    inputs = task.diffusion_inputs(batch, cond_rng, train=train, frozen=frozen,
                                   network=exp.network(params, rng=dropout_rng, train=train))
    apply_fn = lambda x, t, c: exp.apply_fn(params, x, t, c, rng=dropout_rng, train=train)
    if task.uses_diffusion():
      loss, per_example = term(apply_fn, inputs.x0, inputs.cond, diffusion_rng,
                               prior=inputs.prior, mask=inputs.mask)
      metrics = {'loss/diffusion': loss, 'loss/diffusion_unweighted': jnp.mean(per_example)}
      total = loss
    else:  # a predictive baseline: the task's terms are the whole loss
      metrics, total = {}, 0.0
    extra = task.extra_losses(apply_fn, batch, inputs, task_rng, train=train, frozen=frozen,
                              step=step)
    for name, value in extra.items():
      if name not in weights:
        raise ValueError(f'Task {task.name!r} returned loss term {name!r} without a weight '
                         f'in its loss_weights() {sorted(weights)}.')
      metrics[f'loss/{name}'] = value
      total = total + weights[name] * value
    metrics['loss'] = total
    return total, metrics

  return loss_fn
