"""The predictive enhancer (StoRM's first stage, and the non-diffusion
baseline), the model shipped in pretrained/enhance_cpu.

Clean speech of three recorded speakers (Asterisk's studio prompts: allison,
carlo, ivr_ru) and seven synthetic voices (three flite, four espeak-ng),
randomised (level, EQ and tilt, microphone band, room, speed, band limit)
and mixed on the fly with nine kinds of noise, recorded music among them, at
-5 to 20 dB SNR. Never trained on (the held-out set of --mode=eval): the
recorded speaker june, whole, and the voices rms, espeak_gb_f and
espeak_rp_f. A U-Net over STFT frames (257 complex bins as channels)
estimates a complex ratio mask on the compressed noisy spectrogram.

The shipped model is this recipe (20,000 steps) warm-started for 8,000 more
with a -SI-SDR term on the waveform, which removes the stationary noise the
compressed-domain error leaves: --config.train.init_from=RUN1
--config.enhance.si_sdr_weight=2e-5 --config.train.num_steps=8000
--config.train.learning_rate=2e-4 (benchmarks/README.md, "Speech enhancement").
"""

from audiodiff import defaults

RECORDED_VOICES = ('allison', 'carlo', 'ivr_ru')
SYNTHETIC_VOICES = ('slt', 'awb', 'kal16', 'espeak_us_f', 'espeak_us_m', 'espeak_gb_m',
                    'espeak_scot_m')
TEST_VOICES = ('june', 'rms', 'espeak_gb_f', 'espeak_rp_f')


def get_config():
  config = defaults.get_config()
  config.task = 'enhance'
  config.enhance.method = 'predictive'
  config.enhance.test_voices = TEST_VOICES
  config.enhance.test_utterances = 2
  config.audio.sample_rate = 16000
  config.audio.f_max = 8000.0
  config.audio.n_fft = 512
  config.audio.win_length = 512
  config.audio.hop_length = 128
  config.enhance.noise_types += ('recorded_music',)
  config.enhance.augment = ('tilt', 'eq', 'mic', 'room', 'speed', 'bandlimit', 'level')
  config.enhance.shifts = 8  # inference: 8 sub-hop shifts averaged (june PESQ-WB 1.94 -> 2.01)
  config.data.name = 'real_speech'
  config.data.voices = RECORDED_VOICES + SYNTHETIC_VOICES
  config.data.num_examples = 200  # sentences per synthetic voice
  config.data.segment_length = 128 * 128  # 1.02 s: 128 STFT frames
  config.data.normalize = 'none'  # the task scales each pair by its noisy RMS
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (80, 112, 160)
  config.model.unet1d.blocks_per_level = 2
  config.model.unet1d.downsample = 2
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
  config.train.num_steps = 20000
  config.train.log_every = 100
  config.train.eval_every = 5000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 1000
  config.train.sample_every = 20000
  return config
