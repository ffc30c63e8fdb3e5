"""The example audiodiff started from: an MLP encoder/decoder denoiser
(input 1,024, hidden 512) on 1,024-sample signals with T = 100 steps.

The original example had no time embedding; the MLP here adds one (see
audiodiff/models/mlp.py).
"""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  config.audio.sample_rate = 8000
  config.audio.f_max = 4000.0
  config.data.segment_length = 1024
  config.diffusion.schedule = 'linear'
  config.diffusion.num_steps = 100
  config.diffusion.beta_start = 1e-4
  config.diffusion.beta_end = 0.1   # alpha_bar_T = 0.006: ends near pure noise
  config.diffusion.loss = 'l2'
  config.model.name = 'mlp'
  config.model.mlp.hidden = 512
  config.sampler.name = 'ddpm'
  config.train.num_steps = 2000
  config.train.batch_size = 32
  config.train.learning_rate = 1e-3
  return config
