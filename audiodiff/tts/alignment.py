"""Monotonic alignment search (Glow-TTS, Grad-TTS) and hard-alignment helpers.

Training aligns text tokens with mel frames by the Viterbi path of a monotonic,
surjective alignment: frame t is given to one token a(t), with a(0) = 0,
a(T - 1) = N - 1 and a(t + 1) - a(t) in {0, 1}, so every token gets at least
one frame. The path maximises sum_t log_p[a(t), t]. The dynamic programme

    Q[n, t] = log_p[n, t] + max(Q[n, t - 1], Q[n - 1, t - 1])

runs as a `lax.scan` over frames on [B, N] slices, storing which branch won per
(t, n); a reverse scan then walks the choices back from (N - 1, T - 1).
Inference turns predicted durations into the same hard alignment.

Shapes: log_p, alignment [B, N, T] (N text tokens, T mel frames); lengths [B];
durations [B, N]; values [B, N, D]; expanded values [B, T, D].
"""

import jax
import jax.numpy as jnp

# Score of cells no path reaches. Only written, never compared: reachability is
# decided from the indices, so no -inf arithmetic (and no NaN) can occur.
_UNREACHABLE = -1e9


def _forward(log_p):
  """The dynamic programme: per frame, did each token's best path enter it there?

  Cells past the lengths never feed cells inside them (a cell depends only on
  earlier frames and on tokens <= its own), so the lengths are not needed here.

  Args:
    log_p: [B, N, T] float32, zero outside the lengths.

  Returns:
    [T, B, N] bool, True where the best path into (n, t) comes from token n - 1
    at frame t - 1 (it enters token n at frame t), False where it stays on n.
  """
  num_tokens = log_p.shape[1]
  n = jnp.arange(num_tokens)

  def step(score, inputs):
    t, log_p_t = inputs  # [], [B, N]
    stay = score
    # The virtual cell (-1, -1) scores 0, so (0, 0) is entered from it.
    enter = jnp.pad(score[:, :-1], ((0, 0), (1, 0)))
    # (n, t) is reachable iff n <= t. For 0 < n < t both predecessors are
    # reachable and compared (ties stay); n = t can only be entered; token 0
    # can only stay after frame 0. Cells n > t are marked `enter` (unused).
    entered = (n >= t) | ((n > 0) & (enter > stay))
    best = jnp.where(entered, enter, stay) + log_p_t
    score = jnp.where(n <= t, best, _UNREACHABLE)
    return score, entered

  initial = jnp.full(log_p.shape[:2], _UNREACHABLE, log_p.dtype)
  frames = jnp.arange(log_p.shape[2])
  _, entered = jax.lax.scan(step, initial, (frames, jnp.moveaxis(log_p, 2, 0)))
  return entered


def _backtrack(entered, text_lengths, mel_lengths):
  """Walks the stored choices back from the last cell of each example.

  Args:
    entered: [T, B, N] bool from `_forward`.
    text_lengths: [B] int32, in [0, N].
    mel_lengths: [B] int32, in [0, T].

  Returns:
    [B, N, T] float32 hard alignment.
  """
  num_tokens = entered.shape[2]
  n = jnp.arange(num_tokens)
  # The last frame goes to the last token. With fewer frames than tokens (no
  # valid path) the walk starts at token mel_length - 1 instead, so it is the
  # diagonal from token 0 and the last tokens get no frames.
  last = jnp.minimum(text_lengths, mel_lengths) - 1

  def step(token, inputs):
    t, entered_t = inputs  # [], [B, N]
    active = (t < mel_lengths) & (token >= 0)  # [B]
    row = active[:, None] & (n == token[:, None])  # [B, N]
    moved = jnp.any(row & entered_t, axis=1)  # entered_t[b, token[b]]
    return token - moved.astype(token.dtype), row

  frames = jnp.arange(entered.shape[0])
  _, rows = jax.lax.scan(step, last.astype(jnp.int32), (frames, entered), reverse=True)
  return jnp.transpose(rows, (1, 2, 0)).astype(jnp.float32)


def monotonic_alignment_search(log_p, text_lengths, mel_lengths):
  """The most likely monotonic hard alignment of tokens to frames.

  For each example, frames t < mel_length each get exactly one token; the token
  starts at 0, never decreases, advances by at most 1 per frame and ends at
  text_length - 1, so every token n < text_length gets >= 1 frame. Among such
  paths the one maximising the sum of log_p over its cells is returned (a tie,
  walking back from the end, keeps the current token, as in Glow-TTS). Entries
  outside the lengths are 0 and log_p there is ignored (it may hold anything,
  even NaN or inf).

  A valid path needs mel_length >= text_length; the caller must guarantee it.
  Otherwise the result is the diagonal: frame t gets token t, and tokens
  mel_length .. text_length - 1 get no frames. A zero length gives an all-zero
  alignment. Lengths beyond N or T are clipped to them.

  Jittable with traced lengths; carries no gradient.

  Args:
    log_p: [B, N, T] log-likelihood of mel frame t under text token n.
    text_lengths: [B] int, the number of valid tokens.
    mel_lengths: [B] int, the number of valid frames.

  Returns:
    [B, N, T] float32 0/1 alignment.
  """
  log_p = jax.lax.stop_gradient(jnp.asarray(log_p, jnp.float32))
  _, num_tokens, num_frames = log_p.shape
  text_lengths = jnp.clip(jnp.asarray(text_lengths, jnp.int32), 0, num_tokens)
  mel_lengths = jnp.clip(jnp.asarray(mel_lengths, jnp.int32), 0, num_frames)
  valid = ((jnp.arange(num_tokens)[None, :, None] < text_lengths[:, None, None])
           & (jnp.arange(num_frames)[None, None, :] < mel_lengths[:, None, None]))
  log_p = jnp.where(valid, log_p, 0.0)
  entered = _forward(log_p)
  alignment = _backtrack(entered, text_lengths, mel_lengths)
  return jax.lax.stop_gradient(alignment)


def durations(alignment):
  """Frames per token: [B, N, T] alignment -> [B, N] float32."""
  return jnp.sum(jnp.asarray(alignment, jnp.float32), axis=-1)


def expand(values, alignment):
  """Spreads per-token values over their frames (alignment^T @ values).

  Args:
    values: [B, N, D] per-token values.
    alignment: [B, N, T] hard (or soft) alignment.

  Returns:
    [B, T, D]; frames with no token are 0.
  """
  return jnp.einsum('bnt,bnd->btd', alignment.astype(values.dtype), values)


def durations_to_alignment(durations, mel_length_max):
  """The hard alignment of integer durations, for inference.

  Token n covers frames cumsum[n - 1] .. cumsum[n] - 1; frames past the total
  (and past mel_length_max) belong to no token. Negative durations count as 0.

  Args:
    durations: [B, N] int frames per token (>= 0).
    mel_length_max: static int T, the number of frames of the result.

  Returns:
    [B, N, T] float32 0/1 alignment.
  """
  durations = jnp.maximum(jnp.asarray(durations, jnp.int32), 0)
  end = jnp.cumsum(durations, axis=1)[:, :, None]  # [B, N, 1]
  start = end - durations[:, :, None]
  t = jnp.arange(mel_length_max)[None, None, :]
  return ((t >= start) & (t < end)).astype(jnp.float32)
