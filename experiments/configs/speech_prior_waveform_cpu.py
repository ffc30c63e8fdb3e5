"""The waveform speech prior at 16 kHz (shipped until 2026-12-05).

A restoration prior (README, "Restoration") kept for comparison with the
frame-rate one the project ships (speech_prior_cpu.py; benchmarks/README.md,
"Restoration"). A 1D U-Net on 0.51 s waveform crops of three
flite voices (slt, awb, kal16); the fourth voice, rms, and the test
sentences stay out of training for benchmarks/restore_quality.py. Audio is
not renormalised (voices keep their levels, -17 to -29 dBFS), so the prior
knows speech at the levels recordings have; cosine schedule, v-prediction.
"""

from audiodiff import defaults


def get_config():
  config = defaults.get_config()
  config.audio.sample_rate = 16000
  config.audio.f_max = 8000.0
  config.audio.n_fft = 512
  config.audio.win_length = 512
  config.audio.hop_length = 128
  config.data.name = 'flite_speech'
  config.data.voices = ('slt', 'awb', 'kal16')
  config.data.num_examples = 400
  config.data.segment_length = 8192
  config.data.normalize = 'none'
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 200
  config.diffusion.prediction = 'v'
  config.diffusion.loss = 'l2'
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (32, 48, 64, 96, 128)
  config.model.unet1d.blocks_per_level = 1
  config.model.unet1d.downsample = 4
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 25
  config.sampler.num_samples = 4
  config.train.batch_size = 8
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 200
  config.train.decay = 'cosine'
  config.train.num_steps = 8000
  config.train.log_every = 200
  config.train.eval_every = 2000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 1000
  config.train.sample_every = 4000
  return config
