"""Grad-TTS at full size on an LJSpeech-style folder (a GPU config).

  python experiments/main.py --config=experiments/configs/tts_ljspeech.py \
      --workdir=DIR --config.data.folder=/path/to/LJSpeech-1.1

The folder holds wavs/ (or any wav tree) and metadata.csv (`id|text|normalized
text`); every clip needs a transcript. 22,050 Hz, 80 mels, hop 256 (the
audio settings of diffwave_vocoder.py, so a DiffWave BASE vocoder trained
on the same folder pairs with it: --config.tts.vocoder_workdir=VOCODER_DIR).
Grad-TTS's sizes: a 6-layer, 192-channel encoder, 2 heads, feed-forward 768.
"""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  config.task = 'tts'
  config.data.name = 'audio_folder'
  config.data.segment_length = 860 * 256   # 10 s: LJSpeech clips are at most 10.1 s
  config.data.normalize = 'none'
  config.data.max_text_length = 512
  config.tts.max_tokens = 512
  config.model.grad_tts.channels = 192
  config.model.grad_tts.layers = 6
  config.model.grad_tts.hidden = 768
  config.model.grad_tts.duration_channels = 256
  config.tts.segment_frames = 192
  config.diffusion.schedule = 'linear'
  config.diffusion.num_steps = 1000
  config.diffusion.beta_end = 0.02
  config.diffusion.prediction = 'eps'
  config.diffusion.loss = 'l2'
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (256, 384, 512)
  config.model.unet1d.blocks_per_level = 2
  config.model.unet1d.downsample = 2
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 20
  config.sampler.temperature = 1.0 / 1.5
  config.train.batch_size = 16
  config.train.learning_rate = 1e-4
  config.train.warmup_steps = 1000
  config.train.decay = 'constant'
  config.train.num_steps = 1_000_000
  config.train.eval_every = 5000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 20000
  return config
