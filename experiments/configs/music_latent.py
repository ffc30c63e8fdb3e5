"""Music latent diffusion at full size, for a GPU, on music_autoencoder.py's
latents (4.096 s -> 256 frames x 32 channels): a 1D U-Net of 128/256/512
channels, classifier-free guidance, DPM-Solver++ 20 steps. Train the
autoencoder into runs/music_autoencoder first.
"""

from experiments.configs import music_autoencoder, music_latent_cpu


def get_config():
  config = music_latent_cpu.get_config()
  autoencoder = music_autoencoder.get_config()
  config.data = autoencoder.data
  config.data.segment_length = 65536
  config.latent.autoencoder_workdir = 'runs/music_autoencoder'
  config.model.unet1d.channels = (128, 256, 512)
  config.model.unet1d.blocks_per_level = 2
  config.model.unet1d.downsample = 2
  config.train.batch_size = 64
  config.train.learning_rate = 2e-4
  config.train.num_steps = 200_000
  config.train.eval_every = 5000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 10000
  return config
