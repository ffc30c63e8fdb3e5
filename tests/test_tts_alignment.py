"""Monotonic alignment search against brute-force enumeration of all paths, its
constraints, batching and jit, and the duration helpers."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff.tts import alignment as mas

_SEARCH = jax.jit(mas.monotonic_alignment_search)


def _paths(num_tokens, num_frames):
  """Every monotonic surjective path, as the token of each frame."""
  for cuts in itertools.combinations(range(1, num_frames), num_tokens - 1):
    bounds = (0,) + cuts + (num_frames,)
    yield np.repeat(np.arange(num_tokens), np.diff(bounds))


def _brute_force(log_p):
  """Best path score and path of an [N, T] matrix, in float64."""
  log_p = np.asarray(log_p, np.float64)
  frames = np.arange(log_p.shape[1])
  scored = [(log_p[path, frames].sum(), path) for path in _paths(*log_p.shape)]
  return max(scored, key=lambda item: item[0])


def _check_constraints(alignment, text_lengths, mel_lengths):
  alignment = np.asarray(alignment)
  assert set(np.unique(alignment)) <= {0.0, 1.0}
  for a, text_length, mel_length in zip(alignment, text_lengths, mel_lengths):
    assert not a[text_length:].any() and not a[:, mel_length:].any()
    a = a[:text_length, :mel_length]
    np.testing.assert_array_equal(a.sum(0), 1)  # One token per frame.
    tokens = a.argmax(0)
    assert tokens[0] == 0 and tokens[-1] == text_length - 1
    assert set(np.diff(tokens)) <= {0, 1}
    assert (a.sum(1) >= 1).all()


def _padded_batch(shapes, num_tokens, num_frames, seed):
  """Random log_p [B, N, T] with garbage (NaN, +-inf, huge) outside the lengths."""
  rng = np.random.default_rng(seed)
  log_p = rng.choice([np.nan, np.inf, -np.inf, 1e30], size=(len(shapes), num_tokens, num_frames))
  for b, (n, t) in enumerate(shapes):
    log_p[b, :n, :t] = rng.normal(size=(n, t)) * 3.0 - 2.0
  text_lengths, mel_lengths = np.array(shapes, np.int32).T
  return log_p.astype(np.float32), text_lengths, mel_lengths


def test_matches_brute_force_with_padding():
  shapes = [(n, t) for n in range(1, 5) for t in range(n, 8)] * 3
  log_p, text_lengths, mel_lengths = _padded_batch(shapes, 5, 9, seed=0)
  alignment = np.asarray(_SEARCH(log_p, text_lengths, mel_lengths))
  _check_constraints(alignment, text_lengths, mel_lengths)
  for b, (n, t) in enumerate(shapes):
    best_score, best_path = _brute_force(log_p[b, :n, :t])
    a = alignment[b, :n, :t]
    score = (a * log_p[b, :n, :t].astype(np.float64)).sum()
    np.testing.assert_allclose(score, best_score, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(a.argmax(0), best_path)


def test_constraints_on_a_larger_batch():
  rng = np.random.default_rng(1)
  text_lengths = rng.integers(1, 30, size=12).astype(np.int32)
  mel_lengths = (text_lengths + rng.integers(0, 50, size=12)).astype(np.int32)
  log_p = rng.normal(size=(12, 32, 90)).astype(np.float32) * 10.0
  alignment = _SEARCH(log_p, text_lengths, mel_lengths)
  assert alignment.shape == (12, 32, 90) and alignment.dtype == jnp.float32
  _check_constraints(alignment, text_lengths, mel_lengths)


def test_traced_lengths_and_batch_equals_single_examples():
  shapes = [(3, 10), (7, 7), (1, 5), (6, 12), (5, 9)]
  log_p, text_lengths, mel_lengths = _padded_batch(shapes, 8, 12, seed=2)
  batch = np.asarray(_SEARCH(log_p, text_lengths, mel_lengths))
  # Lengths are traced: other lengths reuse the same compiled function.
  traces = []
  jitted = jax.jit(lambda *args: traces.append(1) or mas.monotonic_alignment_search(*args))
  jitted(log_p, text_lengths, mel_lengths)
  other = jitted(log_p, text_lengths[::-1] // 2 + 1, mel_lengths[::-1])
  assert len(traces) == 1
  _check_constraints(other, text_lengths[::-1] // 2 + 1, mel_lengths[::-1])
  single = jax.vmap(lambda lp, n, t: mas.monotonic_alignment_search(lp[None], n[None], t[None])[0])
  np.testing.assert_array_equal(single(log_p, text_lengths, mel_lengths), batch)
  for b, (n, t) in enumerate(shapes):
    alone = mas.monotonic_alignment_search(log_p[b:b + 1, :n, :t], [n], [t])
    np.testing.assert_array_equal(np.asarray(alone)[0], batch[b, :n, :t])


def test_degenerate_lengths_stay_finite():
  log_p = np.random.default_rng(3).normal(size=(4, 6, 5)).astype(np.float32)
  log_p[3, 1:, :] = -np.inf  # Only token 0 is possible... until it must advance.
  alignment = np.asarray(_SEARCH(log_p, np.array([6, 0, 3, 2]), np.array([4, 3, 0, 5])))
  assert np.isfinite(alignment).all()
  # Fewer frames than tokens: the diagonal, the last tokens get no frames.
  np.testing.assert_array_equal(alignment[0, :4, :4], np.eye(4))
  assert alignment[0].sum() == 4
  assert not alignment[1].any() and not alignment[2].any()
  _check_constraints(alignment[3:], [2], [5])


def test_no_gradient_flows_through_the_search():
  log_p = jnp.asarray(np.random.default_rng(4).normal(size=(2, 4, 9)), jnp.float32)
  lengths = (jnp.array([4, 3]), jnp.array([9, 6]))
  objective = lambda x: jnp.sum(mas.monotonic_alignment_search(x, *lengths) * x)
  gradient = jax.jit(jax.grad(objective))(log_p)
  np.testing.assert_array_equal(gradient, mas.monotonic_alignment_search(log_p, *lengths))
  np.testing.assert_array_equal(
      jax.grad(lambda x: mas.monotonic_alignment_search(x, *lengths).sum())(log_p), 0.0)


def test_durations_round_trip():
  rng = np.random.default_rng(5)
  durations = rng.integers(0, 5, size=(3, 7)).astype(np.int32)
  alignment = jax.jit(mas.durations_to_alignment, static_argnums=1)(durations, 40)
  assert alignment.shape == (3, 7, 40) and alignment.dtype == jnp.float32
  np.testing.assert_array_equal(mas.durations(alignment), durations)
  tokens = [np.repeat(np.arange(7), d) for d in durations]
  for a, token in zip(np.asarray(alignment), tokens):
    np.testing.assert_array_equal(a[:, :len(token)].argmax(0), token)
    assert not a[:, len(token):].any()
  # Frames past mel_length_max are cut off.
  np.testing.assert_array_equal(mas.durations_to_alignment(np.array([[3, 4]]), 5).sum((1, 2)), [5])
  # A search result, through its durations, comes back unchanged.
  log_p, text_lengths, mel_lengths = _padded_batch([(4, 9), (2, 3), (6, 11)], 6, 11, seed=6)
  searched = _SEARCH(log_p, text_lengths, mel_lengths)
  rebuilt = mas.durations_to_alignment(mas.durations(searched).astype(jnp.int32), 11)
  np.testing.assert_array_equal(rebuilt, searched)


def test_expand():
  rng = np.random.default_rng(7)
  values = rng.normal(size=(2, 4, 3)).astype(np.float32)
  durations = np.array([[2, 1, 3, 0], [1, 1, 1, 1]], np.int32)
  expanded = np.asarray(mas.expand(jnp.asarray(values), mas.durations_to_alignment(durations, 8)))
  assert expanded.shape == (2, 8, 3)
  for b in range(2):
    frames = np.repeat(np.arange(4), durations[b])
    np.testing.assert_allclose(expanded[b, :len(frames)], values[b, frames], rtol=1e-6)
    np.testing.assert_array_equal(expanded[b, len(frames):], 0.0)
