"""A tiny TTS model for the tests: characters, one encoder layer, a small
U-Net decoder, 8 flite sentences; trains in seconds."""

from experiments.configs import tts_cpu


def get_config():
  config = tts_cpu.get_config()
  config.tts.symbols = 'characters'
  config.tts.max_tokens = 256
  config.tts.segment_frames = 32
  config.model.grad_tts.channels = 32
  config.model.grad_tts.layers = 1
  config.model.grad_tts.hidden = 32
  config.model.grad_tts.duration_channels = 16
  config.data.num_examples = 8
  config.diffusion.num_steps = 50
  config.model.unet1d.channels = (16, 32)
  config.model.unet1d.blocks_per_level = 1
  config.sampler.num_steps = 3
  config.sampler.num_samples = 2
  config.train.batch_size = 2
  config.train.num_steps = 4
  config.train.warmup_steps = 0
  config.train.log_every = 2
  config.train.eval_every = 4
  config.train.eval_batches = 1
  config.train.checkpoint_every = 4
  config.train.sample_every = 4
  return config
