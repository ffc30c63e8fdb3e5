"""Waveform loss terms for the enhancers, in JAX (differentiable)."""

import jax.numpy as jnp

_EPS = 1e-8


def negative_si_sdr(reference, estimate):
  """-SI-SDR in dB of each estimate against its reference (Le Roux et al.
  2019): reference, estimate [B, L] -> [B]. Both are made zero-mean; the
  reference is scaled to its best fit to the estimate, so the loss ignores
  gain and punishes every residual (noise, distortion) by its energy."""
  reference = reference - jnp.mean(reference, axis=-1, keepdims=True)
  estimate = estimate - jnp.mean(estimate, axis=-1, keepdims=True)
  scale = (jnp.sum(estimate * reference, axis=-1, keepdims=True)
           / (jnp.sum(jnp.square(reference), axis=-1, keepdims=True) + _EPS))
  target = scale * reference
  residual = estimate - target
  ratio = (jnp.sum(jnp.square(target), axis=-1) + _EPS) / (
      jnp.sum(jnp.square(residual), axis=-1) + _EPS)
  return -10.0 * jnp.log10(ratio)
