"""The music autoencoder at full size, for a GPU: hop 256 (8-sample patches,
strides 4, 4 and 2) to 32 latent channels, 64 base channels, residual units
with dilations 1, 3 and 9, the multi-scale STFT discriminator (hinge loss and
feature matching from step 20,000), on 5,000 clips rendered with the larger
FluidR3 soundfont (`apt-get install fluid-soundfont-gm`), 4.096 s clips.
"""

from experiments.configs import music_autoencoder_cpu


def get_config():
  config = music_autoencoder_cpu.get_config()
  config.data.num_examples = 5000
  config.data.clip_seconds = 4.096   # 65,536 samples: 256 latent frames
  config.data.soundfont = '/usr/share/sounds/sf2/FluidR3_GM.sf2'
  config.data.segment_length = 32768
  config.model.autoencoder.channels = 64
  config.model.autoencoder.strides = (4, 4, 2)
  config.model.autoencoder.latent_channels = 32
  config.model.autoencoder.adversarial = True
  config.autoencoder.adversarial_weight = 0.1
  config.autoencoder.feature_weight = 2.0
  config.autoencoder.adversarial_start = 20000
  config.train.batch_size = 32
  config.train.learning_rate = 3e-4
  config.train.num_steps = 200_000
  config.train.ema_decay = 0.999
  config.train.eval_every = 5000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 10000
  return config
