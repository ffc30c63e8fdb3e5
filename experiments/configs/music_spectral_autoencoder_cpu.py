"""Stage 1 of music latent diffusion on a 2-core CPU: a VAE over the complex STFT.

16 kHz MIDI music (config.data.name='midi_music', fluidsynth + TimGM6mb),
trained on 1.024 s crops of 4 s clips. ConvNeXts over STFT frames (n_fft
1024, hop 256): 4 s of audio -> 250 latent frames x 32 channels, the same
2,000 values a second as `music_autoencoder_cpu.py`'s waveform VAE. MR-STFT
loss, the compressed complex STFT's squared error (which teaches phase) and
a small KL. The shipped decoder (pretrained/music_latent_cpu/autoencoder,
its export card lists every stage) was fine-tuned last with
complex_weight 0.02: the MR-STFT distance falls, SI-SDR holds.
"""

from experiments.configs import music_autoencoder_cpu


def get_config():
  config = music_autoencoder_cpu.get_config()  # the corpus, crops and schedule
  config.model.name = 'spectral_autoencoder'
  config.autoencoder.complex_weight = 0.1
  config.train.batch_size = 16
  config.train.ema_decay = 0.999
  return config
