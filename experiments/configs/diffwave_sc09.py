"""DiffWave unconditional / class-conditional generation as on SC09
(spoken digits): 16 kHz, 1 s clips, 36 layers, 256 channels, dilation
cycle 12, T = 200 with betas linspace(1e-4, 0.02, 200).

SC09 is the digits subset of speech_commands (`tfds:speech_commands`, needs
network and TensorFlow) or an `audio_folder` with one sub-folder per digit:
  --config.data.name=audio_folder --config.data.folder=/path/to/sc09
"""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  config.audio.sample_rate = 16000
  config.audio.f_max = 8000.0
  config.data.name = 'audio_folder'
  config.data.segment_length = 16000
  config.diffusion.schedule = 'linear'
  config.diffusion.num_steps = 200
  config.diffusion.beta_start = 1e-4
  config.diffusion.beta_end = 0.02
  config.diffusion.loss = 'l1'
  config.model.name = 'diffwave'
  config.generate.class_conditional = True   # False for the unconditional model
  config.model.diffwave.residual_layers = 36
  config.model.diffwave.residual_channels = 256
  config.model.diffwave.dilation_cycle = 12
  config.sampler.name = 'ddpm'
  config.sampler.guidance_scale = 1.0
  config.train.batch_size = 16
  config.train.learning_rate = 2e-4
  config.train.num_steps = 1_000_000
  return config
