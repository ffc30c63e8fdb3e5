"""A CPU-size DiffWave vocoder on the flite corpus at 16 kHz.

12 layers, 32 channels, cycle 6; DiffWave's T = 50 schedule and 6-step fast
sampling, with PriorGrad's energy prior (config.vocoder.prior). Trained on
the 2,000-sentence slt corpus that tts_cpu.py speaks, so the two share
config.audio and the shipped vocoder serves the shipped TTS model.
"""

from experiments.configs import diffwave_vocoder


def get_config():
  config = diffwave_vocoder.get_config()
  config.audio.sample_rate = 16000
  config.audio.f_max = 8000.0
  config.data.num_examples = 2000
  config.data.segment_length = 16 * 256
  config.vocoder.prior = 'energy'
  config.model.diffwave.residual_layers = 12
  config.model.diffwave.residual_channels = 32
  config.model.diffwave.dilation_cycle = 6
  config.train.batch_size = 8
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 100
  config.train.decay = 'cosine'
  config.train.grad_clip_norm = 1.0
  config.train.num_steps = 4500
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 500
  config.train.keep_checkpoints = 12    # benchmarks/vocoder_quality.py's curve
  config.train.sample_every = 2000
  return config
