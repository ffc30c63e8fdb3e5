"""Stage 1 of music latent diffusion on a 2-core CPU: a VAE over the complex STFT.

16 kHz MIDI music (config.data.name='midi_music', fluidsynth + TimGM6mb),
trained on 1.024 s crops of 4 s clips. ConvNeXts over STFT frames (n_fft
1024, hop 256): 4 s of audio -> 250 latent frames x 32 channels, the same
2,000 values a second as `music_autoencoder_cpu.py`'s waveform VAE. MR-STFT
loss, the compressed complex STFT's squared error (which teaches phase) and
a small KL.
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
  config.model.name = 'spectral_autoencoder'
  config.autoencoder.kl_weight = 1e-4
  config.autoencoder.complex_weight = 0.1
  config.train.batch_size = 16
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 200
  config.train.num_steps = 4000
  config.train.ema_decay = 0.999
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.checkpoint_every = 500
  config.train.sample_every = 2000
  config.sampler.num_samples = 4
  return config
