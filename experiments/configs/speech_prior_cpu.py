"""The speech prior at 16 kHz, trainable on a 2-core CPU (pretrained/speech_prior_cpu).

The prior `--mode=restore` fills gaps, extends bandwidth and declips with
(README, "Restoration"); the waveform prior it replaced is
speech_prior_waveform_cpu.py. A ConvNeXt over the tight STFT frame of 2.05 s
waveform crops (models/frame_prior.py: n_fft 512, 62.5 frames a second,
3.8 M parameters); the diffusion runs on the waveform, so restoration's
operators keep their closed forms. Trained on the recorded speakers and
synthetic voices of enhance_predictive_cpu.py; never trained on (the
benchmarks' held-out families): the recorded speaker june and the voices
rms, espeak_gb_f and espeak_rp_f. Audio is not renormalised, so the prior
knows speech at the levels recordings have; a cosine schedule shifted to
those levels, x0-prediction.
"""

from audiodiff import defaults
from experiments.configs import enhance_predictive_cpu


def get_config():
  config = defaults.get_config()
  config.audio.sample_rate = 16000
  config.audio.f_max = 8000.0
  config.audio.n_fft = 512
  config.audio.win_length = 512
  config.audio.hop_length = 128
  config.data.name = 'real_speech'
  config.data.voices = (enhance_predictive_cpu.RECORDED_VOICES
                        + enhance_predictive_cpu.SYNTHETIC_VOICES)
  config.data.num_examples = 200  # sentences per synthetic voice
  config.data.segment_length = 128 * 256  # 2.05 s: 129 frames
  config.data.normalize = 'none'
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 200
  # Speech at -17 to -29 dBFS meets the cosine schedule's levels as data at
  # unit scale would: every step's log-SNR + 2 ln 10 (the same as scaling
  # the audio by 10), so the last steps still see detail 28 dB down.
  config.diffusion.log_snr_shift = 4.6
  # x0: the model passes its input through at low noise (frame_prior.py);
  # Min-SNR-5 weights the x0 error as Hang et al. 2023 do.
  config.diffusion.prediction = 'x0'
  config.diffusion.loss = 'l2'
  config.diffusion.snr_weighting = 'min_snr'
  config.model.name = 'frame_prior'
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 25
  config.sampler.num_samples = 4
  # Bandwidth extension fades its added band out where the input's band is
  # over 20 dB below its loudest frame: the prior fills pauses with hiss
  # (chosen on the benchmark's tuning utterances, benchmarks/README.md).
  config.restore.quiet_gate_db = 20.0
  config.train.batch_size = 16
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 200
  config.train.decay = 'cosine'
  config.train.grad_clip_norm = 1.0
  config.train.num_steps = 5000
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 500
  config.train.sample_every = 5000
  return config
