"""DiffWave BASE vocoder (Kong et al. 2021): mel -> waveform.

30 residual layers, 64 channels, dilation cycle 10, T = 50 with betas
linspace(1e-4, 0.05, 50), L1 loss on the noise; 22,050 Hz, n_fft 1024,
hop 256, 80 mels. Inference with the 6-step fast schedule
[1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5]. Trained on the offline flite corpus
(point config.data at an LJSpeech folder for the real thing).
"""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  # Audio defaults in audiodiff/defaults.py are DiffWave's (22,050 Hz, 1024/256, 80 mels).
  config.data.name = 'flite_speech'
  config.data.num_examples = 400
  config.data.segment_length = 62 * 256      # 62 mel frames, as the reference
  config.data.normalize = 'none'
  config.diffusion.schedule = 'linear'
  config.diffusion.num_steps = 50
  config.diffusion.beta_start = 1e-4
  config.diffusion.beta_end = 0.05
  config.diffusion.loss = 'l1'
  config.model.name = 'diffwave'
  config.task = 'vocoder'
  config.model.diffwave.residual_layers = 30
  config.model.diffwave.residual_channels = 64
  config.model.diffwave.dilation_cycle = 10
  config.sampler.name = 'fast'
  config.sampler.fast_betas = (1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5)
  config.sampler.num_samples = 4
  config.train.batch_size = 16
  config.train.learning_rate = 2e-4
  config.train.warmup_steps = 0
  config.train.decay = 'constant'
  config.train.grad_clip_norm = 1e9
  config.train.num_steps = 1_000_000
  config.train.eval_every = 5000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 10000
  return config
