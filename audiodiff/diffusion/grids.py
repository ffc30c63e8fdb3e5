"""Step grids: where a sampler evaluates the network, as pure functions.

A grid is a float32 [n] array of lambda = log(alpha / sigma) (half the
log-SNR), increasing from the noisiest point to the cleanest, placed on a
trained schedule. `Schedule.t_at_log_snr(2 * lam)` gives the (fractional)
trained steps fed to the network.

  'uniform_t'  evenly spaced trained steps T-1 .. 0, rounded to integers (the
               steps the network was trained at); no truncation
  'log_snr'    uniform in lambda (DPM-Solver's default)
  'log_snr_full'  the same over the schedule's whole range, untruncated
  'karras'     sigma_edm = exp(-lambda) spaced as sigma^(1/rho) uniform, rho = 7
               (Karras et al. 2022, "EDM"): steps concentrate at low noise

The 'log_snr' and 'karras' grids are truncated to lambda in [-log(80),
-log(0.02)], i.e. EDM's sigma_max = 80 and sigma_min = 0.02: below the first
the data is invisible under the noise (alpha < 1.3%) and a step there moves
nothing; above the second (SNR > 34 dB) the last x0 prediction is as good as
any further step, while steps spent there are missing where the sample is
decided. benchmarks/sampler_accuracy.py measured the choice: with EDM's own
sigma_min = 0.002, DPM-Solver++(3M) at 10 calls misplaced 3.7 points of
mass on a sharp discrete distribution (cosine, T = 1000), 1.5 with 0.02.
A schedule whose own range is narrower keeps its own endpoints. Starting at
sigma_max = 80 from N(0, I) ignores alpha_max E[z0] = 1.25% of the data's mean
(in the diffusion's coordinates): negligible for audio (mean ~0, or ~0 after
a data-dependent prior), but a prior far from the data's mean wants
'log_snr_full'.
"""

import math

import jax.numpy as jnp
import numpy as np

from audiodiff.errors import UserError
from audiodiff.diffusion.schedules import Schedule

LAMBDA_MIN = -math.log(80.0)
LAMBDA_MAX = -math.log(0.02)
KARRAS_RHO = 7.0


def lambda_range(schedule: Schedule, truncate: bool = True):
  """(lambda at the noisiest point, at the cleanest) as floats."""
  low = float(schedule.log_snr[-1]) / 2
  high = float(schedule.log_snr[0]) / 2
  if truncate:
    low, high = max(low, LAMBDA_MIN), min(high, LAMBDA_MAX)
  return low, high


def uniform_t(schedule: Schedule, num_points: int):
  """Evenly spaced integer trained steps T-1 .. 0, as lambda [num_points]."""
  if not 1 <= num_points <= schedule.num_steps:
    raise UserError(f'config.sampler.grid=\'uniform_t\' places the sampler\'s {num_points} '
                    f'points (from config.sampler.num_steps) on the model\'s '
                    f'T={schedule.num_steps} trained steps, at most one each: give fewer '
                    'config.sampler.num_steps, or --config.sampler.grid=log_snr (or karras).')
  steps = jnp.round(jnp.linspace(schedule.num_steps - 1, 0, num_points))
  return schedule.log_snr_at(steps) / 2


def log_snr(schedule: Schedule, num_points: int):
  """lambda [num_points] uniform between the truncated endpoints."""
  low, high = lambda_range(schedule)
  return jnp.linspace(low, high, num_points, dtype=jnp.float32)


def log_snr_full(schedule: Schedule, num_points: int):
  """lambda [num_points] uniform over the schedule's whole range."""
  low, high = lambda_range(schedule, truncate=False)
  return jnp.linspace(low, high, num_points, dtype=jnp.float32)


def karras(schedule: Schedule, num_points: int, rho: float = KARRAS_RHO):
  """EDM's grid: sigma = exp(-lambda) with sigma^(1/rho) uniform, as lambda."""
  low, high = lambda_range(schedule)
  sigma_max, sigma_min = math.exp(-low), math.exp(-high)
  ramp = np.linspace(0.0, 1.0, num_points)
  sigma = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
  return jnp.asarray(-np.log(sigma), jnp.float32)


GRIDS = {'uniform_t': uniform_t, 'log_snr': log_snr, 'log_snr_full': log_snr_full,
         'karras': karras}


def get_grid(name: str, schedule: Schedule, num_points: int):
  """lambda [num_points], increasing, for the grid `name`."""
  if name not in GRIDS:
    raise UserError(f'Unknown config.sampler.grid={name!r}; choose one of {sorted(GRIDS)}.')
  if num_points < 1:
    raise UserError(f'A grid needs at least one point; got {num_points}.')
  return GRIDS[name](schedule, num_points)
