"""A seconds-long enhancement run for tests and smoke checks: one espeak-ng
voice, 8 utterances, randomised, four noise types (recorded music among
them), a 0.13 M-parameter U-Net, 4 steps; held out: a synthetic voice and
the recorded speaker june (one utterance each).
Pass --config.enhance.method=storm --config.enhance.predictor=DIR to refine
a tiny predictive run, or =sgmse for the drift-to-noisy diffusion."""

from experiments.configs import enhance_predictive_cpu


def get_config():
  config = enhance_predictive_cpu.get_config()
  config.data.voices = ('espeak_us_m',)
  config.data.num_examples = 8
  config.data.segment_length = 32 * 128
  config.enhance.test_voices = ('june', 'espeak_gb_f')
  config.enhance.test_utterances = 1
  config.enhance.recorded_test_utterances = 1
  config.enhance.noise_types = ('white', 'babble', 'recorded_music', 'reverb')
  config.enhance.test_snr_db = (5.0,)
  config.enhance.babble_utterances = 4
  config.enhance.window_frames = 32
  config.enhance.overlap_frames = 4
  config.enhance.batch_windows = 2
  config.enhance.shifts = 1
  config.model.unet1d.channels = (16, 32)
  config.model.unet1d.blocks_per_level = 1
  config.sampler.num_steps = 3
  config.sampler.num_samples = 2
  config.train.batch_size = 4
  config.train.num_steps = 4
  config.train.warmup_steps = 2
  config.train.log_every = 2
  config.train.eval_every = 4
  config.train.eval_batches = 1
  config.train.checkpoint_every = 4
  config.train.sample_every = 4
  return config
