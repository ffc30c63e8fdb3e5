"""The SC09 recipe at CPU size, on the built-in notes: DiffWave's T = 200
schedule, label conditioning with classifier-free guidance."""

from experiments.configs import diffwave_sc09


def get_config():
  config = diffwave_sc09.get_config()
  config.audio.sample_rate = 8000
  config.audio.f_max = 4000.0
  config.data.name = 'synthetic_notes'
  config.data.segment_length = 4096
  config.model.diffwave.residual_layers = 12
  config.model.diffwave.residual_channels = 32
  config.model.diffwave.dilation_cycle = 6
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 25
  config.sampler.guidance_scale = 2.0
  config.train.batch_size = 8
  config.train.learning_rate = 1e-3
  config.train.num_steps = 4000
  config.train.eval_every = 1000
  config.train.checkpoint_every = 1000
  config.train.sample_every = 2000
  return config
