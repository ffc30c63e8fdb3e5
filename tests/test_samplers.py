"""Samplers driven by exact denoisers of analytic distributions.

For Gaussian data every sampler here is an affine map of Gaussian noise, so
its output law is known in closed form; a correct sampler reproduces the data
distribution as its discretisation error vanishes. Few-step samplers carry a
real, known discretisation error (see `test_ddim_matches_its_closed_form`), so
the 2% checks use the step counts at which the method itself is that accurate.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff.diffusion import analytic, samplers, schedules

# Reaches pure noise (alpha_bar_T = 4e-5), so starting from N(0, I) is exact.
SCHEDULE = schedules.Schedule(jnp.asarray(schedules.linear_betas(1000, 1e-4, 0.02), jnp.float32))
MEAN, STD = 0.3, 0.5
NUM_DRAWS = 100_000


def _draw(name, fn, shape=(NUM_DRAWS, 1), seed=0, **kwargs):
  sampler = samplers.get_sampler(name, SCHEDULE, **kwargs)
  return np.asarray(jax.jit(lambda rng: sampler(fn, rng, shape))(jax.random.PRNGKey(seed)))


@pytest.mark.parametrize('name,kwargs', [
    ('ddpm', {}),
    ('ddim', dict(num_steps=200)),
    ('dpm_solver', dict(num_steps=20)),
    ('dpm_solver', dict(num_steps=50)),
])
def test_gaussian_mean_and_std_within_2_percent(name, kwargs):
  x = _draw(name, analytic.gaussian_eps(SCHEDULE, MEAN, STD), **kwargs)
  assert abs(x.mean() / MEAN - 1) < 0.02
  assert abs(x.std() / STD - 1) < 0.02


@pytest.mark.parametrize('num_steps', [10, 50])
def test_ddim_matches_its_closed_form(num_steps):
  """Deterministic DDIM maps x_t - alpha_t mu to x_s - alpha_s mu by
  c = (alpha_s alpha_t v + sigma_s sigma_t) / (alpha_t^2 v + sigma_t^2): with
  u_t = (alpha_t sqrt(v), sigma_t) this is cos(angle(u_s, u_t)) |u_s| / |u_t|,
  so the output std is STD * prod(cos(angle steps)) / |u_T|, which is < STD
  for any finite grid (10 steps: ~ -28% here; 50 steps: ~ -5%)."""
  x = _draw('ddim', analytic.gaussian_eps(SCHEDULE, MEAN, STD), num_steps=num_steps)
  grid = np.round(np.linspace(999, 0, num_steps)).astype(int)
  alpha_bar = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[grid]
  u = np.stack([np.sqrt(alpha_bar) * STD, np.sqrt(1 - alpha_bar)], -1)
  u = np.concatenate([u, [[STD, 0.0]]])          # the last step lands on the data
  angle = np.arctan2(u[:, 1], u[:, 0])
  product = np.prod(np.cos(np.diff(angle))) * STD / np.linalg.norm(u[0])
  expected_std = product
  expected_mean = MEAN - product / STD * np.sqrt(alpha_bar[0]) * MEAN
  assert abs(x.std() / expected_std - 1) < 0.01
  assert abs(x.mean() - expected_mean) < 0.005


def _ancestral_moments(alpha_bar):
  """Exact output mean/std of ancestral sampling on a sampling schedule with the
  exact Gaussian denoiser (each step is affine in x plus Gaussian noise)."""
  mean, var = 0.0, 1.0
  prev = np.concatenate([[1.0], alpha_bar[:-1]])
  for ab, ab_prev in zip(alpha_bar[::-1], prev[::-1]):
    beta = 1 - ab / ab_prev
    gain = np.sqrt(ab) * STD ** 2 / (ab * STD ** 2 + 1 - ab)  # d E[x0|x] / dx
    offset = MEAN - gain * np.sqrt(ab) * MEAN
    c0 = np.sqrt(ab_prev) * beta / (1 - ab)
    c1 = np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
    mean = (c0 * gain + c1) * mean + c0 * offset
    var = (c0 * gain + c1) ** 2 * var + beta * (1 - ab_prev) / (1 - ab)
  return mean, np.sqrt(var)


@pytest.mark.parametrize('fast_betas', [(1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5),
                                        (1e-4, 0.01, 0.1, 0.4, 0.8, 0.99)])
def test_fast_sampling_six_steps_matches_closed_form(fast_betas):
  x = _draw('fast', analytic.gaussian_eps(SCHEDULE, MEAN, STD), fast_betas=fast_betas)
  mean, std = _ancestral_moments(np.cumprod(1 - np.asarray(fast_betas)))
  assert abs(x.mean() - mean) < 0.005
  assert abs(x.std() / std - 1) < 0.02


def test_ddim_eta_one_is_ancestral_on_its_grid():
  """DDIM with eta = 1 is ancestral sampling on the sub-schedule it visits."""
  x = _draw('ddim', analytic.gaussian_eps(SCHEDULE, MEAN, STD), num_steps=100, eta=1.0)
  grid = np.round(np.linspace(999, 0, 100)).astype(int)[::-1]
  mean, std = _ancestral_moments(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[grid])
  assert abs(x.mean() - mean) < 0.005 and abs(x.std() / std - 1) < 0.01


def test_fast_schedule_alignment():
  """DiffWave's fast list on its BASE schedule: alpha_bar matches at net_t."""
  base = schedules.Schedule(jnp.asarray(schedules.linear_betas(50, 1e-4, 0.05), jnp.float32))
  fast_betas = (1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5)
  net_t, alpha_bar = samplers.align_fast_schedule(base, fast_betas)
  np.testing.assert_allclose(alpha_bar, np.cumprod(1 - np.asarray(fast_betas)), rtol=1e-6)
  np.testing.assert_allclose(base.alpha_bar_at(net_t), alpha_bar, rtol=1e-4)
  assert abs(float(net_t[0])) < 1e-3 and np.all(np.diff(np.asarray(net_t)) > 0)
  with pytest.raises(ValueError, match='fast_betas'):
    samplers.align_fast_schedule(base, (0.5, 0.9, 0.99))


@pytest.mark.parametrize('name,kwargs', [('ddpm', {}), ('dpm_solver', dict(num_steps=50))])
def test_gaussian_mixture_modes_and_weights(name, kwargs):
  weights, means, stds = [0.3, 0.7], [-0.6, 0.5], [0.1, 0.15]
  fn = analytic.gaussian_mixture_eps(SCHEDULE, weights, means, stds)
  x = _draw(name, fn, **kwargs)[:, 0]
  left, right = x[x < 0], x[x >= 0]
  assert abs(left.size / x.size - 0.3) < 0.02
  assert abs(left.mean() - means[0]) < 0.02 and abs(right.mean() - means[1]) < 0.02
  assert abs(left.std() / stds[0] - 1) < 0.05 and abs(right.std() / stds[1] - 1) < 0.05


def _label_fn(schedule):
  """Exact denoiser of N(cond['label'] * 1.0, 0.2^2) with label 0 -> N(0, ...)."""
  def fn(x, t, cond):
    mean = cond['label'].astype(jnp.float32)[:, None]
    alpha, sigma = schedule.alpha_sigma_at(t)
    a, s = alpha[:, None], sigma[:, None]
    return s * (x - a * mean) / (a ** 2 * 0.04 + s ** 2)
  return fn


@pytest.mark.parametrize('name,kwargs', [('ddpm', {}), ('ddim', dict(num_steps=20)),
                                         ('fast', dict(fast_betas=(1e-4, 0.01, 0.1, 0.4, 0.8, 0.99))),
                                         ('dpm_solver', dict(num_steps=10))])
def test_classifier_free_guidance(name, kwargs):
  """w = 1 is the conditional sampler, w = 0 the unconditional one, and w = 2
  extrapolates: the guided mean moves past the conditional one."""
  fn = _label_fn(SCHEDULE)
  shape = (4000, 1)
  cond = {'label': jnp.ones((4000,), jnp.int32)}
  uncond = {'label': jnp.zeros((4000,), jnp.int32)}
  rng = jax.random.PRNGKey(5)
  out = {}
  for w in (0.0, 1.0, 2.0):
    sampler = samplers.get_sampler(name, SCHEDULE, guidance_scale=w, **kwargs)
    out[w] = np.asarray(jax.jit(lambda r: sampler(fn, r, shape, cond, uncond))(rng))
  plain = samplers.get_sampler(name, SCHEDULE, **kwargs)
  conditional = np.asarray(plain(fn, rng, shape, cond))
  unconditional = np.asarray(plain(fn, rng, shape, uncond))
  np.testing.assert_allclose(out[1.0], conditional, atol=1e-4)
  np.testing.assert_allclose(out[0.0], unconditional, atol=1e-4)
  assert out[2.0].mean() > out[1.0].mean() + 0.1
  with pytest.raises(ValueError, match='uncond'):
    samplers.get_sampler(name, SCHEDULE, guidance_scale=2.0, **kwargs)(fn, rng, shape, cond)


@pytest.mark.parametrize('w', [1.0, 2.0])
def test_guidance_on_parts_alone_against_the_closed_form(w):
  """A network predicting x0 = cond['v'] everywhere: DDIM (eta 0) ends at the
  guided prediction u + w (c - u) + sum_k (s_k - 1) (c - o_k), per row."""
  fn = lambda x, t, c: jnp.broadcast_to(c['v'][:, None], x.shape)
  full = lambda v: {'v': jnp.full((2,), v)}
  guidance = samplers.Guidance(full(0.0), (full(0.5), full(0.75)),
                               jnp.array([[3.0, 1.0], [1.0, 5.0]]))
  sampler = samplers.get_sampler('ddim', SCHEDULE, parameterization='x0', num_steps=4,
                                 eta=0.0, guidance_scale=w)
  out = np.asarray(sampler(fn, jax.random.PRNGKey(0), (2, 3), full(1.0), guidance))
  plain = w * 1.0 + (1 - w) * 0.0
  np.testing.assert_allclose(out, [[plain + 2 * 0.5] * 3, [plain + 4 * 0.25] * 3], atol=1e-5)


# A 10-call setting of each sampler's own options.
TEN_CALLS = {'ddpm': {}, 'ddim': dict(num_steps=10), 'dpm_solver': dict(num_steps=10),
             'heun': dict(num_steps=11),
             'fast': dict(fast_betas=(1e-4, 1e-3, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 0.8, 0.99))}


@pytest.mark.parametrize('name', samplers.SAMPLERS.names())
def test_clip_x0(name):
  fn = lambda x, t, cond: jnp.full_like(x, 3.0)   # predicts x0 = 3
  sampler = samplers.get_sampler(name, SCHEDULE, parameterization='x0', clip_x0=True,
                                 **TEN_CALLS[name])
  x = sampler(fn, jax.random.PRNGKey(0), (16, 8))
  np.testing.assert_allclose(x, 1.0, atol=1e-5)


@pytest.mark.parametrize('name', samplers.SAMPLERS.names())
def test_compiles_once_per_shape(name):
  traces = []

  def fn(x, t, cond):
    traces.append(x.shape)
    return jnp.zeros_like(x)

  sampler = samplers.get_sampler(name, SCHEDULE, **TEN_CALLS[name])
  jitted = jax.jit(lambda rng, x_shape_like: sampler(fn, rng, x_shape_like.shape),
                   static_argnums=())
  for seed in range(3):
    jitted(jax.random.PRNGKey(seed), jnp.zeros((2, 64)))
  first = len(traces)
  assert 1 <= first <= 2        # the loop body, plus dpm_solver's final call
  jitted(jax.random.PRNGKey(0), jnp.zeros((3, 64)))
  assert len(traces) == 2 * first


def test_unknown_sampler():
  with pytest.raises(ValueError, match='dpm_solverr'):
    samplers.get_sampler('dpm_solverr', SCHEDULE)


@pytest.mark.parametrize('name', samplers.SAMPLERS.names())
def test_num_evals_counts_network_calls(name):
  calls = []

  def fn(x, t, cond):
    calls.append(1)
    return jnp.zeros_like(x)

  sampler = samplers.get_sampler(name, SCHEDULE, **TEN_CALLS[name])
  # Unrolled in Python (no jit, the loop traced once per call of fori_loop's
  # body is avoided by disabling jit), every network call is counted.
  with jax.disable_jit():
    sampler(fn, jax.random.PRNGKey(0), (2, 4))
  expected = {'ddpm': SCHEDULE.num_steps, 'heun': 11}.get(name, 10)
  assert sampler.num_evals == len(calls) == expected


def test_misspelled_or_meaningless_option_fails_naming_it():
  with pytest.raises(ValueError, match="'num_stepz'.*num_steps"):
    samplers.get_sampler('dpm_solver', SCHEDULE, num_stepz=10)
  with pytest.raises(ValueError, match="'ddpm' takes no option 'num_steps'"):
    samplers.get_sampler('ddpm', SCHEDULE, num_steps=10)
  with pytest.raises(ValueError, match="'eta'"):
    samplers.get_sampler('fast', SCHEDULE, eta=1.0)


def test_sampler_from_config_passes_only_the_samplers_options():
  from audiodiff import defaults  # pylint: disable=g-import-not-at-top
  config = defaults.get_config().sampler
  config.name, config.num_steps = 'ddpm', 7   # ddpm runs all T steps
  assert samplers.sampler_from_config(config, SCHEDULE, 'eps').num_evals == SCHEDULE.num_steps
  config.name = 'ddim'
  assert samplers.sampler_from_config(config, SCHEDULE, 'eps').num_evals == 7


@pytest.mark.parametrize('name,kwargs', [
    ('ddpm', {}),
    ('ddim', dict(num_steps=300)),
    ('dpm_solver', dict(num_steps=20)),
    ('heun', dict(num_steps=19)),
])
def test_a_start_from_a_noised_guess_keeps_the_marginals(name, kwargs):
  """SDEdit: on the schedule cut at step 300 (alpha_bar 0.41), data drawn
  from the Gaussian, noised to the sampler's `start` level, comes back with
  the data's mean and std; pure noise there would not."""
  short = schedules.Schedule(SCHEDULE.betas[:300])
  sampler = samplers.get_sampler(name, short, **kwargs)
  alpha, sigma = (float(v) for v in sampler.start)
  assert 0.2 < alpha < 0.9
  rng = np.random.default_rng(0)
  x = MEAN + STD * rng.standard_normal((NUM_DRAWS, 1))
  init = jnp.asarray(alpha * x + sigma * rng.standard_normal(x.shape), jnp.float32)
  fn = analytic.gaussian_eps(short, MEAN, STD)
  out = np.asarray(jax.jit(lambda r: sampler(fn, r, x.shape, init=init))(jax.random.PRNGKey(1)))
  assert abs(out.mean() / MEAN - 1) < 0.02
  assert abs(out.std() / STD - 1) < 0.02
  if name == 'ddpm':  # the check can fail: no init is the wrong start here
    wrong = np.asarray(jax.jit(lambda r: sampler(fn, r, x.shape))(jax.random.PRNGKey(1)))
    assert abs(wrong.mean() / MEAN - 1) > 0.1, wrong.mean()
