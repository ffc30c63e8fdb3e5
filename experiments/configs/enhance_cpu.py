"""Speech enhancement on a 2-core CPU: StoRM (predict, then refine by
diffusion). Not shipped: on real speech the refiner does not earn its
network calls (README, "Speech enhancement"), so pretrained/enhance_cpu is
the predictor alone.

The predictor is a trained run of enhance_predictive_cpu.py; this config
trains only the diffusion refiner: a U-Net of the same size that reads
[noisy, estimate] and walks from N(estimate, 0.15^2) to the clean
spectrogram. Point it at the predictor with --config.enhance.predictor=DIR
(default: the shipped one). Same voices, noises and held-out set.
"""

from experiments.configs import enhance_predictive_cpu


def get_config():
  config = enhance_predictive_cpu.get_config()
  config.enhance.method = 'storm'
  config.enhance.predictor = 'pretrained/enhance_cpu'
  config.enhance.prior_scale = 0.15  # about 7x the predictor's error
  config.diffusion.prediction = 'x0'
  config.sampler.name = 'dpm_solver'
  # On the held-out set, 2 solver steps keep the predictor's quality and 8
  # lose some (benchmarks/README.md, "Speech enhancement").
  config.sampler.num_steps = 2
  config.train.num_steps = 7000
  return config
