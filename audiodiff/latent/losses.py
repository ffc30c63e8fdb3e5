"""The audio autoencoder's loss terms, as pure functions of arrays.

    mr_stft_loss(reference, estimate)        # [B, L] each -> scalar
    complex_stft_loss(reference, estimate, features)  # compressed complex STFT MSE
    gaussian_kl(mean, log_std)               # KL(N(mean, std^2) || N(0, I)) per latent value
    hinge_discriminator_loss(real, fake), hinge_generator_loss(fake), feature_matching(...)
"""

import jax.numpy as jnp

from audiodiff.metrics import audio_metrics

# (n_fft, hop) pairs for 16 kHz audio: 16, 32 and 64 ms windows.
STFT_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))


def mr_stft_loss(reference, estimate, resolutions=STFT_RESOLUTIONS, eps=1e-7):
  """audio_metrics.mr_stft_distance at these short windows, its mean over
  the batch. reference, estimate: [B, L]. 0 for identical signals."""
  triples = tuple((n_fft, hop, n_fft) for n_fft, hop in resolutions)
  return jnp.mean(audio_metrics.mr_stft_distance(reference, estimate, triples, eps))


def complex_stft_loss(reference, estimate, features):
  """Mean squared difference of the compressed complex STFTs
  (representation.StftFeatures) of reference and estimate [B, L], summed over
  a frame's 2 * bins values and averaged over frames and the batch: phase
  errors count, as magnitude errors do."""
  difference = features.to_features(reference) - features.to_features(estimate)
  return jnp.mean(jnp.sum(jnp.square(difference), axis=-1))


def gaussian_kl(mean, log_std):
  """Mean over latent values of KL(N(mean, exp(log_std)^2) || N(0, 1)) in nats."""
  return jnp.mean(0.5 * (mean ** 2 + jnp.exp(2 * log_std) - 1.0) - log_std)


def hinge_discriminator_loss(real_logits, fake_logits):
  """Mean over scales of mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))."""
  terms = [jnp.mean(jnp.maximum(0.0, 1.0 - r)) + jnp.mean(jnp.maximum(0.0, 1.0 + f))
           for r, f in zip(real_logits, fake_logits)]
  return sum(terms) / len(terms)


def hinge_generator_loss(fake_logits):
  """Mean over scales of mean(relu(1 - D(fake)))."""
  return sum(jnp.mean(jnp.maximum(0.0, 1.0 - f)) for f in fake_logits) / len(fake_logits)


def feature_matching(real_features, fake_features):
  """Mean L1 between the discriminator's hidden maps of real and fake audio,
  relative to the real maps' mean magnitude (each scale and layer alike)."""
  terms = [jnp.mean(jnp.abs(r - f)) / (jnp.mean(jnp.abs(r)) + 1e-5)
           for rs, fs in zip(real_features, fake_features) for r, f in zip(rs, fs)]
  return sum(terms) / len(terms)
