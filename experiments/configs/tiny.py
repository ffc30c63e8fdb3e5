"""A seconds-long smoke test of the whole pipeline (used by the tests)."""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  config.audio.sample_rate = 8000
  config.audio.f_max = 4000.0
  config.audio.n_fft = 256
  config.audio.win_length = 256
  config.audio.hop_length = 64
  config.audio.n_mels = 20
  config.data.segment_length = 1024
  config.data.num_examples = 32
  config.diffusion.num_steps = 20
  config.generate.class_conditional = True
  config.model.diffwave.residual_layers = 2
  config.model.diffwave.residual_channels = 8
  config.model.diffwave.dilation_cycle = 2
  config.model.unet1d.channels = (8, 16)
  config.model.unet1d.blocks_per_level = 1
  config.model.mlp.hidden = 32
  for name in ('diffwave', 'unet1d', 'mlp'):
    config.model[name].embedding_dim = 16
  config.sampler.name = 'ddim'
  config.sampler.num_steps = 4
  config.sampler.guidance_scale = 2.0
  config.sampler.num_samples = 2
  config.train.num_steps = 2
  config.train.batch_size = 4
  config.train.warmup_steps = 1
  config.train.log_every = 1
  config.train.eval_every = 2
  config.train.eval_batches = 1
  config.train.checkpoint_every = 1
  config.train.sample_every = 2
  return config
