"""The predictive enhancer (StoRM's first stage, and the non-diffusion
baseline), trainable on a 2-core CPU in about 20 minutes.

Clean speech of seven voices (three flite, four espeak-ng at varied pitch and
rate) mixed on the fly with eight kinds of noise at -5 to 20 dB SNR; the
voices rms, espeak_gb_f and espeak_rp_f never enter training (the held-out
set of --mode=eval). A U-Net over STFT frames (257 complex bins as
channels) estimates a complex ratio mask on the compressed noisy
spectrogram.
"""

from experiments.configs import base

TRAIN_VOICES = ('slt', 'awb', 'kal16', 'espeak_us_f', 'espeak_us_m', 'espeak_gb_m',
                'espeak_scot_m')
TEST_VOICES = ('rms', 'espeak_gb_f', 'espeak_rp_f')


def get_config():
  config = base.get_config()
  config.task = 'enhance'
  config.enhance.method = 'predictive'
  config.enhance.test_voices = TEST_VOICES
  config.enhance.test_utterances = 2
  config.audio.sample_rate = 16000
  config.audio.f_max = 8000.0
  config.audio.n_fft = 512
  config.audio.win_length = 512
  config.audio.hop_length = 128
  config.data.name = 'flite_speech'
  config.data.voices = TRAIN_VOICES
  config.data.num_examples = 200
  config.data.segment_length = 128 * 128  # 1.02 s: 128 STFT frames
  config.data.normalize = 'none'  # the task scales each pair by its noisy RMS
  config.model.name = 'unet1d'
  config.model.unet_channels = (80, 112, 160)
  config.model.unet_blocks_per_level = 2
  config.model.unet_downsample = 2
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 200
  config.diffusion.prediction = 'x0'
  config.diffusion.loss = 'l2'
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 8
  config.sampler.num_samples = 4
  config.train.batch_size = 16
  config.train.learning_rate = 5e-4
  config.train.warmup_steps = 200
  config.train.decay = 'cosine'
  config.train.num_steps = 6000
  config.train.log_every = 100
  config.train.eval_every = 2000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 1000
  config.train.sample_every = 6000
  return config
