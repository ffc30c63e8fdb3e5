"""The waveform-domain baseline for music_latent_cpu.py: the same corpus, labels
and guidance, with a class-conditional 1D U-Net diffusing the 64,000-sample
waveform directly (as quickstart.py does for 0.26 s notes).
benchmarks/music_quality.py compares the two at equal training time.
"""

from experiments.configs import music_autoencoder_cpu


def get_config():
  config = music_autoencoder_cpu.get_config()
  config.task = 'generate'
  config.generate.class_conditional = True
  config.data.segment_length = 64000
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 1000
  config.diffusion.prediction = 'v'
  config.diffusion.loss = 'l2'
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (16, 32, 64, 128)
  config.model.unet1d.blocks_per_level = 1
  config.model.unet1d.downsample = 4
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 20
  config.sampler.guidance_scale = 2.0
  config.sampler.num_samples = 8
  config.train.batch_size = 8
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 100
  config.train.num_steps = 20000
  config.train.decay = 'constant'
  config.train.log_every = 50
  config.train.eval_every = 100000
  config.train.checkpoint_every = 100
  config.train.keep_checkpoints = 100
  config.train.sample_every = 100000
  return config
