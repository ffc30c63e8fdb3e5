"""Schedules against their defining formulas."""

import ml_collections
import numpy as np
import pytest

from audiodiff.diffusion import schedules


def _config(**overrides):
  config = ml_collections.ConfigDict(dict(
      schedule='linear', num_steps=50, beta_start=1e-4, beta_end=0.05,
      cosine_offset=0.008, sigmoid_start=-3.0, sigmoid_end=3.0, sigmoid_tau=1.0,
      betas=()))
  config.update(overrides)
  return config


def test_linear_matches_diffwave_and_sc09():
  base = schedules.get_schedule(_config())
  np.testing.assert_allclose(base.betas, np.linspace(1e-4, 0.05, 50), rtol=1e-6)
  sc09 = schedules.get_schedule(_config(num_steps=200, beta_end=0.02))
  np.testing.assert_allclose(sc09.betas, np.linspace(1e-4, 0.02, 200), rtol=1e-6)
  np.testing.assert_allclose(sc09.alpha_bar, np.cumprod(1 - np.linspace(1e-4, 0.02, 200)),
                             rtol=1e-5)


def test_cosine_alpha_bar_formula():
  s, num_steps = 0.008, 100
  schedule = schedules.get_schedule(_config(schedule='cosine', num_steps=num_steps))
  u = np.arange(1, num_steps + 1) / num_steps
  f = lambda x: np.cos(np.pi / 2 * (x + s) / (1 + s)) ** 2
  expected = f(u) / f(0)
  # The last beta is clipped at 0.999 (Nichol & Dhariwal), so compare the rest.
  np.testing.assert_allclose(schedule.alpha_bar[:-1], expected[:-1], rtol=1e-4, atol=1e-7)


def test_sigmoid_alpha_bar_formula():
  schedule = schedules.get_schedule(_config(schedule='sigmoid', num_steps=64,
                                            sigmoid_start=-3.0, sigmoid_end=3.0,
                                            sigmoid_tau=0.7))
  sig = lambda x: 1 / (1 + np.exp(-x))
  u = np.arange(1, 65) / 64
  expected = (sig(3 / 0.7) - sig((-3 + 6 * u) / 0.7)) / (sig(3 / 0.7) - sig(-3 / 0.7))
  np.testing.assert_allclose(schedule.alpha_bar[:-1], expected[:-1], rtol=1e-4, atol=1e-6)
  assert np.all(np.diff(np.asarray(schedule.alpha_bar)) < 0)


def test_explicit_and_errors():
  schedule = schedules.get_schedule(_config(schedule='explicit', betas=(0.1, 0.2, 0.5)))
  np.testing.assert_allclose(schedule.alpha_bar, [0.9, 0.72, 0.36], rtol=1e-6)
  assert schedule.num_steps == 3
  with pytest.raises(ValueError, match='explicit'):
    schedules.get_schedule(_config(schedule='explicit'))
  with pytest.raises(ValueError, match='linearr'):
    schedules.get_schedule(_config(schedule='linearr'))
  with pytest.raises(ValueError, match=r'\(0, 1\)'):
    schedules.get_schedule(_config(schedule='explicit', betas=(0.1, 1.5)))


def test_fractional_steps_interpolate_log_snr():
  schedule = schedules.get_schedule(_config())
  steps = np.arange(50)
  np.testing.assert_allclose(schedule.alpha_bar_at(steps), schedule.alpha_bar, rtol=1e-5)
  log_snr = np.asarray(schedule.log_snr)
  np.testing.assert_allclose(schedule.log_snr_at(10.25),
                             0.75 * log_snr[10] + 0.25 * log_snr[11], rtol=1e-5)
  t = np.array([0.0, 3.5, 17.2, 49.0])
  np.testing.assert_allclose(schedule.t_at_log_snr(schedule.log_snr_at(t)), t, atol=1e-3)
  alpha, sigma = schedule.alpha_sigma_at(t)
  np.testing.assert_allclose(alpha ** 2 + sigma ** 2, 1.0, rtol=1e-6)
