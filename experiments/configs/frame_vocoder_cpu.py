"""A frame-rate diffusion vocoder on a 2-core CPU (pretrained/vocoder_cpu).

A bridge over the compressed complex STFT (n_fft 1024, hop 256: the mel's
frames) from the mel's Griffin-Lim spectrum to the recording
(tasks/frame_vocoder.py), a 2.6 M-parameter ConvNeXt over frames, a
multi-resolution STFT loss on the one-step output, one sampler step.
config.audio is diffwave_vocoder_cpu.py's (16 kHz, 80 mels), so the shipped
TTS model speaks through it. Trained on the recorded speakers and synthetic
voices of enhance_predictive_cpu.py; never trained on (the benchmarks'
held-out families): the recorded speaker june and the voices rms,
espeak_gb_f and espeak_rp_f.
"""

from audiodiff import defaults
from experiments.configs import diffwave_vocoder_cpu
from experiments.configs import enhance_predictive_cpu


def get_config():
  config = defaults.get_config()
  config.task = 'frame_vocoder'
  config.audio = diffwave_vocoder_cpu.get_config().audio
  config.data.name = 'real_speech'
  config.data.voices = (enhance_predictive_cpu.RECORDED_VOICES
                        + enhance_predictive_cpu.SYNTHETIC_VOICES)
  config.data.num_examples = 200  # sentences per synthetic voice
  config.data.segment_length = 64 * 256  # 1.02 s: 64 frames
  # Griffin-Lim's phases: from the pseudo-inverse (zero phase) the one-step
  # output did not come near Griffin-Lim in 1,000 steps (benchmarks/README.md).
  config.vocoder.start = 'griffin_lim'
  # 16 iterations while training (the start is made for every example); the
  # shipped export uses 64 (--config.vocoder.griffin_lim_iters=64), which
  # scored higher than 16 and 32 on every held-out family at a real-time
  # factor of 0.035.
  config.vocoder.griffin_lim_iters = 16
  config.vocoder.prior_scale = 0.3
  config.vocoder.stft_loss_weight = 10.0
  config.vocoder.chunk_frames = 256
  config.vocoder.overlap_frames = 16
  config.vocoder.batch_chunks = 4
  config.model.name = 'convnext1d'
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 200
  config.diffusion.prediction = 'x0'
  config.diffusion.loss = 'l2'
  config.sampler.name = 'dpm_solver'
  # One network call: the one-step output is what the STFT loss trains; more
  # steps scored lower on held-out speech (benchmarks/README.md, "Vocoder").
  config.sampler.num_steps = 1
  # The first network call at the last trained step, where the one-step loss
  # trains it (the log-SNR grid's first point, t = 197.3, sees a trace of the
  # data the sampler's start lacks).
  config.sampler.grid = 'uniform_t'
  config.sampler.num_samples = 4
  config.train.batch_size = 16
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 200
  config.train.decay = 'cosine'
  config.train.grad_clip_norm = 1.0
  config.train.num_steps = 4000
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.eval_batches = 2
  config.train.checkpoint_every = 500
  config.train.keep_checkpoints = 12    # benchmarks/vocoder_quality.py's curve
  config.train.sample_every = 2000
  return config
