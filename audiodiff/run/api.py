"""Trained models from Python: `audiodiff.load(directory)`.

    model = audiodiff.load('pretrained/notes')      # an export or a workdir
    audio, request = model.sample(4, seed=0)        # float32 [4, L] numpy, names
    model.sample_rate                               # of every array in / out
    model.vocode(mel=mel)                           # task methods, e.g. vocoder

`directory` is an exported model (config.json + params.msgpack, from
`--mode=export`) or a training work directory (config.json + checkpoints/,
the EMA parameters of the latest or a chosen checkpoint). main.py's modes call
these same methods.
"""

import functools
import json
import os
from typing import Optional

import flax.serialization
import jax
import numpy as np
from absl import logging

from audiodiff.run import experiment, sampling
from audiodiff.errors import UserError

PARAMS_FILE = 'params.msgpack'
EXPORT_INFO_FILE = 'export.json'


class Trained:
  """A network with its config, task and sampler, ready to run.

  Attributes: config, task, params (EMA), step (training steps behind them).
  Task methods listed in `task.api_methods` are available as methods.
  """

  def __init__(self, exp: experiment.Experiment, params, step: Optional[int] = None):
    self.exp = exp
    self.params = params
    self.step = step
    self._generate = sampling.make_generate_fn(exp)

  @property
  def config(self):
    return self.exp.config

  @property
  def task(self):
    return self.exp.task

  @property
  def frozen(self):
    return self.exp.frozen

  @property
  def sample_rate(self) -> int:
    return int(self.config.audio.sample_rate)

  def generate(self, request, rng):
    """A tasks.SampleRequest -> the network's samples [N, ...] (not decoded)."""
    return self._generate(self.params, rng, request.cond, request.uncond, request.prior,
                          shape=tuple(request.shape))

  def run(self, request, rng) -> np.ndarray:
    """A tasks.SampleRequest -> decoded audio float32 [N, L] (numpy)."""
    x = self.generate(request, rng)
    return np.asarray(jax.device_get(self.task.decode(x, self.frozen)), np.float32)

  def sample(self, num_samples: Optional[int] = None, *, seed: int = 0,
             reference_batch=None, **task_options):
    """num_samples (default config.sampler.num_samples) outputs of the task's
    default request -> (audio float32 [N, L], request). task_options go to
    the task's sample_request (e.g. labels=[0, 2] for class-conditional)."""
    num_samples = num_samples or self.config.sampler.num_samples
    request = self.task.sample_request(num_samples, reference_batch,
                                       self.exp.network(self.params), **task_options)
    return self.run(request, jax.random.PRNGKey(seed)), request

  def __getattr__(self, name):
    task = self.__dict__.get('exp').task if 'exp' in self.__dict__ else None
    if task is not None and name in task.api_methods:
      return functools.partial(getattr(task, name), self)
    raise AttributeError(f'{type(self).__name__} of task {getattr(task, "name", "?")!r} '
                         f'has no method {name!r}.')


def _read_params(directory, exp):
  """params.msgpack, checked against the model's parameter shapes."""
  with open(os.path.join(directory, PARAMS_FILE), 'rb') as f:
    params = flax.serialization.msgpack_restore(f.read())
  expected = jax.eval_shape(exp.init_params, jax.random.PRNGKey(0))
  shapes = lambda tree: jax.tree.map(lambda x: tuple(x.shape), tree)
  if shapes(params) != shapes(expected):
    raise UserError(f'{directory}/{PARAMS_FILE} does not fit this config\'s model '
                     '(its parameter shapes differ); load it with its own config.json.')
  return jax.tree.map(np.asarray, params)


def _restore_checkpoint(exp, checkpoint_step):
  state = exp.init_state()
  restored, step = exp.checkpointer.restore_latest(state, step=checkpoint_step)
  if restored is None:
    raise UserError(
        f'No checkpoint in {exp.workdir}/checkpoints and no exported {PARAMS_FILE}. Train '
        'first (--mode=train with the same --workdir), or point --workdir at a trained run '
        'or an exported model.')
  logging.info('Restored checkpoint at step %d.', step)
  return restored.ema_params, step


def load(directory: str, config=None, *, checkpoint_step: Optional[int] = None) -> Trained:
  """A trained model from an export or a work directory.

  config: None reads directory/config.json (as trained); a ConfigDict
  overrides it (e.g. other sampler settings; the model must match).
  """
  resolve = config is not None
  config = experiment.read_config(directory) if config is None else config
  exp = experiment.build(config, directory, resolve=resolve)
  if os.path.exists(os.path.join(directory, PARAMS_FILE)):
    if checkpoint_step is not None:
      raise UserError(f'{directory} is an exported model (one set of parameters); '
                       'drop --checkpoint_step.')
    with open(os.path.join(directory, EXPORT_INFO_FILE)) as f:
      step = json.load(f).get('step')
    return Trained(exp, _read_params(directory, exp), step)
  params, step = _restore_checkpoint(exp, checkpoint_step)
  if not all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(params)):
    others = [s for s in exp.checkpointer.all_steps() if s != step]
    raise UserError(
        f'The parameters of checkpoint step {step} in {directory}/checkpoints are not finite '
        '(NaN/inf: the run diverged before it was saved); choose another with '
        f'--checkpoint_step (saved steps: {others}) or train again with a lower '
        'config.train.learning_rate.')
  return Trained(exp, params, step)


def export(trained: Trained, directory: str) -> str:
  """Writes the inference-only copy: config.json, params.msgpack (EMA
  parameters, float32), export.json (step, size) and the task's frozen
  models (e.g. a predictor). Returns the params path."""
  os.makedirs(directory, exist_ok=True)
  experiment.write_config(trained.task.export_frozen(trained, directory), directory)
  params = jax.tree.map(lambda x: np.asarray(jax.device_get(x), np.float32), trained.params)
  path = os.path.join(directory, PARAMS_FILE)
  with open(path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(params))
  num_params = int(sum(x.size for x in jax.tree.leaves(params)))
  with open(os.path.join(directory, EXPORT_INFO_FILE), 'w') as f:
    json.dump({'step': trained.step, 'num_params': num_params,
               'bytes': os.path.getsize(path)}, f, indent=2)
  return path
