"""Where each latent frame falls in the bar: a music latent model's sense of meter.

Every clip of the midi_music corpus starts on a downbeat and changes chord
once a bar (4 beats) through a 4-bar progression, so at `bpm` the frame at
time t lies t * bpm / 60 beats into its progression. The U-Net's convolutions
see about ±2 s of a 4 s clip and cannot tell how far from the start a frame
is; config.latent.meter gives each frame that position as sines and cosines
of its phase in cycles of 16, 8, 4, 2 and 1 beats (the progression, two
bars, a bar, half a bar, a beat) plus a channel of ones, all zeros where the
tempo is not given (the unconditional pass, or a tempo dropped in training):

    position_features(jnp.array([120., jnp.nan]), frames=250, frame_rate=62.5)
    # [2, 250, 11]: the first clip's bar phase turns once every 2 s; the second is zeros
"""

import jax.numpy as jnp

CYCLES_IN_BEATS = (16.0, 8.0, 4.0, 2.0, 1.0)
CHANNELS = 2 * len(CYCLES_IN_BEATS) + 1


def position_features(bpm, frames: int, frame_rate: float, offset: int = 0):
  """bpm [B] (NaN: not given) -> float32 [B, frames, CHANNELS] for frames
  offset .. offset + frames - 1 of clips that start on a downbeat."""
  bpm = jnp.asarray(bpm, jnp.float32)
  given = jnp.isfinite(bpm)
  seconds = (offset + jnp.arange(frames, dtype=jnp.float32)) / frame_rate
  beats = seconds[None, :] * jnp.where(given, bpm, 0.0)[:, None] / 60.0
  angles = 2 * jnp.pi * beats[..., None] / jnp.asarray(CYCLES_IN_BEATS)
  features = jnp.concatenate(
      [jnp.sin(angles), jnp.cos(angles), jnp.ones(angles.shape[:-1] + (1,))], axis=-1)
  return jnp.where(given[:, None, None], features, 0.0)
