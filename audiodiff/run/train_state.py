"""The train state and the optimizer that updates it."""

import re
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from audiodiff.errors import UserError


@flax.struct.dataclass
class TrainState:
  """Everything a training step reads and writes.

  Attributes:
    step: int32 scalar, optimizer steps taken.
    params: the model parameters (float32).
    ema_params: exponential moving average of params, used for sampling/eval.
    opt_state: optax state.
    rng: uint32 [2] base key; step k uses jax.random.fold_in(rng, k), so a
      resumed run draws exactly the noise an uninterrupted one would.
  """
  step: jnp.ndarray
  params: Any
  ema_params: Any
  opt_state: Any
  rng: jnp.ndarray


def learning_rate_schedule(train_config) -> optax.Schedule:
  """Linear warmup, then cosine decay towards 0 or a constant rate.

  Update i (counted from 0) takes the rate at i + 1: the first update moves
  at 1/warmup_steps of the peak (not 0, so a one-step run trains), the peak
  is reached at update warmup_steps - 1, and a cosine decay's last update
  (num_steps - 1) still moves, at a small rate.
  """
  peak, warmup = train_config.learning_rate, train_config.warmup_steps
  if train_config.decay == 'cosine':
    base = optax.warmup_cosine_decay_schedule(
        0.0, peak, warmup_steps=warmup,
        decay_steps=max(train_config.num_steps + 1, warmup + 1), end_value=0.0)
  elif train_config.decay == 'constant':
    base = optax.join_schedules(
        [optax.linear_schedule(0.0, peak, max(warmup, 1)), optax.constant_schedule(peak)],
        [warmup])
  else:
    raise UserError(f"Unknown config.train.decay={train_config.decay!r}; "
                    "choose 'cosine' or 'constant'.")
  return lambda count: base(count + 1)


def parameter_name(path) -> str:
  """A parameter's key path in its tree -> 'decoder/Dense_0/kernel'."""
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def make_optimizer(train_config) -> optax.GradientTransformation:
  """AdamW with gradient clipping by global norm; with config.train.trainable
  (a regular expression), only the parameters whose path ('decoder/Dense_0/
  kernel') it matches are updated, the rest keep their values."""
  adamw = optax.chain(
      optax.clip_by_global_norm(train_config.grad_clip_norm),
      optax.adamw(learning_rate_schedule(train_config),
                  weight_decay=train_config.weight_decay))
  if not train_config.trainable:
    return adamw
  try:
    pattern = re.compile(train_config.trainable)
  except re.error as error:
    raise UserError(f'config.train.trainable={train_config.trainable!r} is not a regular '
                    f'expression ({error}).') from None

  def labels(params):
    paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    names = [parameter_name(path) for path, _ in paths]
    chosen = [bool(pattern.search(name)) for name in names]
    if not any(chosen):
      raise UserError(f'config.train.trainable={train_config.trainable!r} matches no '
                      f'parameter (they are named like {names[0]!r}); widen it, or set it '
                      "to '' to train every parameter.")
    return jax.tree_util.tree_unflatten(
        treedef, ['train' if c else 'frozen' for c in chosen])

  return optax.multi_transform({'train': adamw, 'frozen': optax.set_to_zero()}, labels)


def create_train_state(params, optimizer, rng) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    ema_params=jax.tree.map(jnp.copy, params),
                    opt_state=optimizer.init(params), rng=rng)


def ema_update(ema_params, params, decay):
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)
