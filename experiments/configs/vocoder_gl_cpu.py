"""A CPU-size diffusion vocoder that starts from Griffin-Lim, at 16 kHz.

config.vocoder.prior='griffin_lim': the diffusion ends around the mel's
Griffin-Lim waveform g (16 fast iterations, computed inside the step), with
std prior_scale times each frame's level, and a 1D U-Net reading the mel and
g learns the way from g to the recording (x0-prediction, cosine T = 200,
DPM-Solver++ at few steps). The 2,000-sentence slt corpus and the mel
settings of diffwave_vocoder_cpu.py (and so of tts_cpu.py).

It stays below Griffin-Lim itself (benchmarks/README.md, "CPU vocoder vs
Griffin-Lim"): the residual from Griffin-Lim to the recording is as large as
the speech itself (its phases are wrong), so starting there saves the
network little; kept as a recipe to train longer.
"""

from experiments.configs import diffwave_vocoder_cpu


def get_config():
  config = diffwave_vocoder_cpu.get_config()
  config.vocoder.prior = 'griffin_lim'
  config.vocoder.prior_scale = 0.5
  config.vocoder.chunk_frames = 128
  config.data.segment_length = 32 * 256
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 200
  config.diffusion.prediction = 'x0'
  config.diffusion.loss = 'l1'
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (32, 64, 96, 128)
  config.model.unet1d.blocks_per_level = 1
  config.model.unet1d.downsample = 4
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 4
  config.sampler.order = 2
  config.train.batch_size = 8
  config.train.learning_rate = 1e-3
  config.train.num_steps = 3000
  return config
