"""Grad-TTS on the flite slt corpus at 16 kHz, trainable on a 2-core CPU.

2,000 generated sentences spoken by flite's slt voice (100 held out), as
phonemes from espeak-ng with blanks between them (at most 215 tokens). A
3-layer transformer text encoder (96 channels, relative positions), a
duration predictor, MAS in every step, and a 1D U-Net decoder over mel
frames that reads the aligned encoder output mu_y and denoises 2 s crops
(128 frames) from N(mu_y, I). config.audio is diffwave_vocoder_cpu.py's, so the shipped
vocoder (pretrained/vocoder_cpu) turns its mels into audio.
"""

from audiodiff import defaults
from experiments.configs import diffwave_vocoder_cpu


def get_config():
  config = defaults.get_config()
  config.task = 'tts'
  config.audio = diffwave_vocoder_cpu.get_config().audio
  config.tts.max_tokens = 224
  config.model.grad_tts.channels = 96
  config.model.grad_tts.layers = 3
  config.model.grad_tts.hidden = 256
  config.model.grad_tts.duration_channels = 96
  config.data.name = 'flite_speech'
  config.data.voices = ('slt',)
  config.data.num_examples = 2000
  config.data.segment_length = 375 * 256     # 6 s: every utterance whole
  config.data.normalize = 'none'             # levels as the vocoder learned them
  # v-prediction: a 10-step sampler reads x0 = alpha z - sigma v, which an
  # eps network (x0 = (z - sigma eps) / alpha) gets wrong by 1/alpha_T ~ 100x
  # at the noisiest steps until it is trained far longer.
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 1000
  config.diffusion.prediction = 'v'
  config.diffusion.loss = 'l2'
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (96, 128, 160)
  config.model.unet1d.blocks_per_level = 1
  config.model.unet1d.downsample = 2
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 10
  # Chosen on held-out sentences 41-80 (benchmarks/tts_intelligibility.py
  # reports on 1-40): WER 0.416 at Grad-TTS's tau = 1.5 (temperature 0.67),
  # 0.354 at 0.3, 0.292 at 0.3 with 10% slower speech.
  config.sampler.temperature = 0.3
  config.tts.length_scale = 1.1
  config.sampler.num_samples = 4
  config.train.batch_size = 16
  config.train.learning_rate = 5e-4
  config.train.warmup_steps = 300
  config.train.decay = 'cosine'
  config.train.num_steps = 4000
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 500
  config.train.sample_every = 4000
  return config
