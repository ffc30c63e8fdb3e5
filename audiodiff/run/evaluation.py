"""Evaluation: the loss on held-out batches and the task's sample metrics."""

import jax
import numpy as np

from audiodiff import data
from audiodiff.run import losses
from audiodiff.metrics import audio_metrics


def make_eval_step(exp):
  """Returns jitted eval_step(params, batch, rng, frozen) -> metrics dict
  (the loss terms, dropout off)."""
  loss_fn = losses.make_loss_fn(exp)

  def eval_step(params, batch, rng, frozen):
    return loss_fn(params, batch, rng, train=False, frozen=frozen)[1]

  return jax.jit(eval_step)


def evaluate_loss(exp, eval_step, params, frozen=None) -> dict:
  """Mean of each loss term of `params` over config.train.eval_batches test
  batches, with fixed noise so successive evaluations compare."""
  config = exp.config
  iterator = iter(data.get_dataset(config, 'test', features=exp.task.features, mesh=exp.mesh,
                                   shuffle=False, transforms=exp.task.data_transforms('test')))
  rows = []
  for i in range(config.train.eval_batches):
    batch = data.make_global_batch(next(iterator), exp.mesh)
    rows.append(jax.device_get(eval_step(params, batch, jax.random.PRNGKey(i), frozen)))
  return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def reference_batches(exp, num_batches: int):
  """The first num_batches test batches (unsharded numpy), for sampling."""
  iterator = iter(data.get_dataset(exp.config, 'test', features=exp.task.features,
                                   mesh=exp.mesh, shuffle=False,
                                   transforms=exp.task.data_transforms('test')))
  return [next(iterator) for _ in range(num_batches)]


def evaluate_samples(trained, batches) -> dict:
  """The task's metrics of samples for each reference batch, averaged per
  system (e.g. {'diffusion': {...}, 'griffin_lim': {...}}), and the clip count."""
  rows, num_clips = {}, 0
  for i, batch in enumerate(batches):
    audio, request = trained.sample(len(batch[trained.task.features[0]]), seed=i,
                                    reference_batch=batch)
    num_clips += len(audio)
    for system, values in trained.task.sample_metrics(audio, request).items():
      rows.setdefault(system, []).extend(values)
  results = {system: audio_metrics.average(values) for system, values in rows.items()}
  if results:
    results['num_clips'] = num_clips
  return results
