"""FD, KID, IS and accuracy against closed forms; the classifier's pieces."""

import numpy as np

from audiodiff.metrics import generative_metrics as gm
from audiodiff.metrics import classifier
from experiments.configs import music_autoencoder_cpu


def test_frechet_distance_closed_forms():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((4000, 3))
  assert gm.frechet_distance(x, x) < 1e-6
  shift = np.array([1.0, -2.0, 0.5])
  # Same covariance: the distance is the squared mean difference.
  np.testing.assert_allclose(gm.frechet_distance(x, x + shift), np.sum(shift**2), rtol=1e-6)
  # Scaled by s: trace term = d (1 - s)^2 for identity-like covariances.
  np.testing.assert_allclose(gm.frechet_distance(x, 2 * x), 3 * (1 - 2) ** 2, rtol=0.05)


def test_kid_is_near_zero_for_one_distribution_and_grows_apart():
  rng = np.random.default_rng(1)
  a, b = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
  same = gm.kernel_inception_distance(a, b)
  apart = gm.kernel_inception_distance(a, b + 1.0)
  assert abs(same) < 0.05 and apart > 10 * abs(same) and apart > 0.1


def test_inception_score_and_accuracy():
  confident = np.eye(4)[np.arange(40) % 4]
  np.testing.assert_allclose(gm.inception_score(confident), 4.0, rtol=1e-6)
  np.testing.assert_allclose(gm.inception_score(np.full((10, 4), 0.25)), 1.0, rtol=1e-6)
  np.testing.assert_allclose(gm.inception_score(np.eye(4)[np.zeros(10, int)]), 1.0, rtol=1e-6)
  assert gm.accuracy(confident, np.arange(40) % 4) == 1.0
  assert gm.accuracy(confident, (np.arange(40) + 1) % 4) == 0.0


def test_chroma_puts_a440_on_pitch_class_a():
  bank = classifier.chroma_filterbank(16000, 2048)
  bin_440 = int(round(440 * 2048 / 16000))
  assert np.argmax(bank[bin_440]) == 9 and bank[bin_440].sum() == 1
  assert bank[:3].sum() == 0  # below f_min


def test_classifier_learns_tonic_and_round_trips(tmp_path):
  config = music_autoencoder_cpu.get_config().audio
  rate, length = config.sample_rate, 8192
  t = np.arange(length) / rate
  rng = np.random.default_rng(0)
  tonics = np.arange(24) % 3
  clips = np.stack([np.sin(2 * np.pi * 261.63 * 2 ** (2 * k / 12) * t + rng.uniform(0, 6))
                    for k in tonics]).astype(np.float32) * 0.3
  trained = classifier.train_classifier(clips, {'key': tonics}, config, steps=60,
                                        batch_size=8, log=None)
  out = trained(clips)
  assert out['embedding'].shape == (24, 128) and out['key'].shape == (24, 3)
  assert gm.accuracy(out['key'], tonics) > 0.9
  trained.save(str(tmp_path))
  again = classifier.Classifier.load(str(tmp_path))(clips)
  np.testing.assert_allclose(again['key'], out['key'], rtol=1e-5, atol=1e-6)
  other = classifier.train_classifier(clips, {'key': tonics}, config, steps=60, batch_size=8,
                                      seed=1, log=None)
  other.save(str(tmp_path / 'seed1'))
  assert classifier.Classifier.load(str(tmp_path / 'seed1')).seed == 1
  assert not np.allclose(other(clips)['embedding'], out['embedding'])   # another classifier
  both = classifier.Ensemble([trained, other])(clips)
  np.testing.assert_allclose(both['key'], (out['key'] + other(clips)['key']) / 2, rtol=1e-5)
  assert both['embedding'].shape == (2, 24, 128)
