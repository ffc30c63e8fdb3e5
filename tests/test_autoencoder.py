"""The audio VAE, its losses and the latent scaling, against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff import defaults, tasks
from audiodiff.errors import UserError
from audiodiff.metrics import audio_metrics
from audiodiff.latent import losses
from audiodiff.latent.scaling import LatentScaling
from audiodiff.enhancement import representation
from audiodiff.models.autoencoder import AudioAutoencoder
from audiodiff.models.spectral_autoencoder import SpectralAutoencoder
from audiodiff.run import experiment
from audiodiff.tasks import base
from experiments.configs import music_spectral_autoencoder_cpu


@pytest.mark.parametrize('patch, strides', [(8, (4, 4)), (4, (2, 8)), (16, (8,))])
def test_shapes_at_several_compression_factors(patch, strides):
  model = AudioAutoencoder(patch=patch, channels=4, strides=strides, latent_channels=3,
                           dilations=(1,))
  hop = model.hop
  assert hop == patch * int(np.prod(strides)) and hop >= 64
  audio = jax.random.normal(jax.random.PRNGKey(0), (2, 4 * hop))

  @jax.jit
  def shapes(audio):
    variables = model.init(jax.random.PRNGKey(1), audio)
    z = model.apply(variables, audio, method='encode')
    mean, log_std = model.apply(variables, audio, method='encode_distribution')
    decoded = model.apply(variables, z, method='decode')
    sample, _, _ = model.apply(variables, audio, True, method='reconstruct',
                               rngs={'dropout': jax.random.PRNGKey(2)})
    return z, mean, log_std, decoded, model.apply(variables, audio), sample

  z, mean, log_std, decoded, reconstruction, sample = shapes(audio)
  assert z.shape == mean.shape == log_std.shape == (2, 4, 3)
  assert decoded.shape == reconstruction.shape == sample.shape == audio.shape


def test_spectral_autoencoder_shapes_and_its_decoder_writes_spectra():
  model = SpectralAutoencoder(n_fft=256, hop_length=64, channels=16, intermediate=32,
                              encoder_blocks=1, decoder_blocks=1, latent_channels=3)
  audio = jax.random.normal(jax.random.PRNGKey(0), (2, 8 * 64))
  variables = model.init(jax.random.PRNGKey(1), audio)
  z = model.apply(variables, audio, method='encode')
  assert z.shape == (2, 8, 3) and model.hop == 64
  decoded = model.apply(variables, z, method='decode')
  features = model.apply(variables, z, method='decode_features')
  assert decoded.shape == audio.shape and features.shape == (2, 8, 2 * 129)
  # The waveform is exactly the inverse STFT of the decoded spectrum.
  stft = representation.StftFeatures(256, 64, 0.5, 0.33)
  np.testing.assert_allclose(decoded, stft.to_audio(features), atol=1e-5)
  # A decoder with its own, longer STFT: the same frames, finer bins.
  longer = SpectralAutoencoder(n_fft=256, hop_length=64, decoder_n_fft=512, channels=16,
                               intermediate=32, encoder_blocks=1, decoder_blocks=1,
                               latent_channels=3)
  variables = longer.init(jax.random.PRNGKey(1), audio)
  features = longer.apply(variables, z, method='decode_features')
  assert features.shape == (2, 8, 2 * 257)
  np.testing.assert_allclose(longer.apply(variables, z, method='decode'),
                             representation.StftFeatures(512, 64, 0.5, 0.33).to_audio(features),
                             atol=1e-5)


def test_complex_stft_loss_closed_forms():
  stft = representation.StftFeatures(256, 64, 0.5, 0.33)
  rng = np.random.default_rng(0)
  audio = jnp.asarray(rng.standard_normal((2, 1024)), jnp.float32)
  assert float(losses.complex_stft_loss(audio, audio, stft)) < 1e-9
  # A sign flip keeps every magnitude and turns every phase by pi: the
  # squared distance is 4 |c|^2, which a magnitude loss cannot see.
  features = stft.to_features(audio)
  expected = 4 * float(jnp.mean(jnp.sum(features ** 2, axis=-1)))
  np.testing.assert_allclose(float(losses.complex_stft_loss(audio, -audio, stft)), expected,
                             rtol=1e-5)
  assert float(losses.mr_stft_loss(audio, -audio)) < 1e-5


def test_kl_matches_the_closed_form():
  assert float(losses.gaussian_kl(jnp.zeros(5), jnp.zeros(5))) == 0.0
  mean, std = 1.5, 0.5
  expected = np.log(1 / std) + (std**2 + mean**2) / 2 - 0.5
  got = losses.gaussian_kl(jnp.full((3,), mean), jnp.full((3,), np.log(std)))
  np.testing.assert_allclose(float(got), expected, rtol=1e-6)
  assert float(losses.gaussian_kl(jnp.array([0.1]), jnp.array([0.2]))) > 0


def test_mr_stft_loss_is_the_metric_batched():
  rng = np.random.default_rng(0)
  reference = rng.standard_normal((2, 4096)).astype(np.float32)
  estimate = (reference + 0.3 * rng.standard_normal((2, 4096))).astype(np.float32)
  assert float(losses.mr_stft_loss(jnp.asarray(reference), jnp.asarray(reference))) < 1e-6
  resolutions = tuple((n, h, n) for n, h in losses.STFT_RESOLUTIONS)
  expected = np.mean([audio_metrics.multi_resolution_stft_distance(r, e, resolutions)
                      for r, e in zip(reference, estimate)])
  got = float(losses.mr_stft_loss(jnp.asarray(reference), jnp.asarray(estimate)))
  np.testing.assert_allclose(got, expected, rtol=2e-3)
  louder = float(losses.mr_stft_loss(jnp.asarray(reference), jnp.asarray(2 * estimate)))
  assert louder > got


@pytest.mark.parametrize('model', [
    AudioAutoencoder(patch=8, channels=4, strides=(4, 2), latent_channels=2, dilations=(1,),
                     adversarial=True, discriminator_resolutions=((128, 32),)),
    SpectralAutoencoder(n_fft=128, hop_length=32, channels=8, intermediate=16, encoder_blocks=1,
                        decoder_blocks=1, latent_channels=2, adversarial=True,
                        discriminator_resolutions=((128, 32),)),
], ids=['waveform', 'spectral'])
def test_adversarial_terms_train_each_side_with_its_own_loss(model):
  audio = jax.random.normal(jax.random.PRNGKey(0), (2, 1024))
  params = model.init(jax.random.PRNGKey(1), audio)['params']
  assert 'discriminator' in params

  def generator_loss(p):
    recon = model.apply({'params': p}, audio)
    fake = model.apply({'params': p}, recon, True, method='discriminate')
    return losses.hinge_generator_loss([logits for logits, _ in fake])

  def discriminator_loss(p):
    recon = jax.lax.stop_gradient(model.apply({'params': p}, audio))
    real = model.apply({'params': p}, audio, method='discriminate')
    fake = model.apply({'params': p}, recon, method='discriminate')
    return losses.hinge_discriminator_loss([r for r, _ in real], [f for f, _ in fake])

  norm = lambda tree: float(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree)))
  g = jax.jit(jax.grad(generator_loss))(params)
  d = jax.jit(jax.grad(discriminator_loss))(params)
  assert norm(g['discriminator']) == 0 and norm(g['decoder']) > 0
  assert norm(d['discriminator']) > 0
  assert norm(d['encoder']) == 0 and norm(d['decoder']) == 0


def test_hinge_losses_and_feature_matching_closed_forms():
  real, fake = [jnp.array([2.0, 0.5])], [jnp.array([-2.0, 0.0])]
  # relu(1 - real) = [0, 0.5], relu(1 + fake) = [0, 1]
  np.testing.assert_allclose(float(losses.hinge_discriminator_loss(real, fake)), 0.25 + 0.5)
  np.testing.assert_allclose(float(losses.hinge_generator_loss(fake)), (3.0 + 1.0) / 2)
  features = [[jnp.ones((2, 3))]]
  assert float(losses.feature_matching(features, features)) == 0.0


def test_latent_scaling_round_trips_and_whitens():
  rng = np.random.default_rng(0)
  latents = (rng.standard_normal((20, 50, 4)) * [0.1, 1.0, 5.0, 0.5] + [3, -1, 0, 2]).astype(
      np.float32)
  scaling = LatentScaling.fit(latents)
  x = scaling.normalize(latents)
  np.testing.assert_allclose(x.reshape(-1, 4).mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(x.reshape(-1, 4).std(0), 1, atol=1e-3)
  np.testing.assert_allclose(scaling.denormalize(x), latents, rtol=1e-5, atol=1e-5)
  again = LatentScaling.from_dict(scaling.to_dict())
  np.testing.assert_array_equal(again.scale, scaling.scale)
  with pytest.raises(ValueError, match='NaN'):
    LatentScaling.fit(np.full((2, 3), np.nan))


def test_the_training_mr_stft_reads_its_resolutions_and_refuses_bad_ones():
  rng = np.random.default_rng(0)
  reference = jnp.asarray(rng.standard_normal((2, 4096)), jnp.float32)
  estimate = reference + 0.3 * jnp.asarray(rng.standard_normal((2, 4096)), jnp.float32)
  aux = {'reconstruction': estimate, 'mean': jnp.zeros((2, 3)), 'log_std': jnp.zeros((2, 3))}
  config = music_spectral_autoencoder_cpu.get_config()
  terms = []
  for resolutions in (((256, 64), (512, 128), (1024, 256)), ((2048, 512),)):
    config.autoencoder.stft_resolutions = resolutions
    task = tasks.get_task(config)
    terms.append(float(task.extra_losses(None, None, base.DiffusionInputs(x0=reference, aux=aux),
                                         None, train=True)['mr_stft']))
    np.testing.assert_allclose(terms[-1], float(losses.mr_stft_loss(reference, estimate,
                                                                     resolutions)), rtol=1e-6)
  assert abs(terms[0] - terms[1]) > 1e-3
  for bad in (((32768, 512),), ((512, 1024),), ((512,),), ()):
    config.autoencoder.stft_resolutions = bad
    with pytest.raises(UserError, match='config.autoencoder.stft_resolutions'):
      tasks.get_task(config).check_config()


def test_a_decoder_stft_that_is_not_a_power_of_two_is_refused():
  config = defaults.get_config()
  config.model.spectral_autoencoder.decoder_n_fft = 1000
  with pytest.raises(UserError, match='decoder_n_fft=1000 must be 0 .* or a power of two'):
    experiment.validate_config(config)
  config.model.spectral_autoencoder.decoder_n_fft = 2048
  experiment.validate_config(config)
