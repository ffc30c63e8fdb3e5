"""The train state and the optimizer that updates it."""

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
  """Linear warmup, then cosine decay to 0 or a constant rate."""
  peak, warmup = train_config.learning_rate, train_config.warmup_steps
  if train_config.decay == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        0.0, peak, warmup_steps=warmup,
        decay_steps=max(train_config.num_steps, warmup + 1), end_value=0.0)
  if train_config.decay == 'constant':
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, max(warmup, 1)), optax.constant_schedule(peak)],
        [warmup])
  raise UserError(f"Unknown config.train.decay={train_config.decay!r}; "
                   "choose 'cosine' or 'constant'.")


def make_optimizer(train_config) -> optax.GradientTransformation:
  """AdamW with gradient clipping by global norm."""
  return optax.chain(
      optax.clip_by_global_norm(train_config.grad_clip_norm),
      optax.adamw(learning_rate_schedule(train_config),
                  weight_decay=train_config.weight_decay))


def create_train_state(params, optimizer, rng) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    ema_params=jax.tree.map(jnp.copy, params),
                    opt_state=optimizer.init(params), rng=rng)


def ema_update(ema_params, params, decay):
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)
