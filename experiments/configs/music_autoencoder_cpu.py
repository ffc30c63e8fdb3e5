"""Stage 1 of music latent diffusion on a 2-core CPU: the audio VAE.

16 kHz MIDI music (config.data.name='midi_music', fluidsynth + TimGM6mb),
trained on 1.024 s crops of 4 s clips. hop 128 (8-sample patches, strides
4 and 4): 4 s of audio -> 500 latent frames x 16 channels. MR-STFT loss and
a small KL; no discriminator (its terms cost more CPU time than this budget
has; `music_autoencoder.py` turns them on).
"""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  config.task = 'autoencoder'
  config.audio.sample_rate = 16000
  config.audio.n_fft = 1024
  config.audio.win_length = 1024
  config.audio.hop_length = 256
  config.audio.f_max = 8000.0
  config.data.name = 'midi_music'
  config.data.num_examples = 1024
  config.data.clip_seconds = 4.0
  config.data.segment_length = 16384
  config.data.normalize = 'peak'
  config.model.name = 'autoencoder'
  config.model.autoencoder.patch = 8
  config.model.autoencoder.channels = 32
  config.model.autoencoder.strides = (4, 4)
  config.model.autoencoder.latent_channels = 16
  config.autoencoder.kl_weight = 1e-4
  config.train.batch_size = 8
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 200
  config.train.num_steps = 4000
  config.train.ema_decay = 0.99
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.checkpoint_every = 500
  config.train.sample_every = 2000
  config.sampler.num_samples = 4
  return config
