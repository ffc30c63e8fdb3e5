"""Music latent diffusion on a 2-core CPU (stage 2; stage 1 is
music_spectral_autoencoder_cpu.py). config.latent.autoencoder_workdir names
the autoencoder: by default the shipped one, so this stage trains right away.

4 s clips of the MIDI corpus -> the spectral autoencoder's 250 x 32 latents
(62.5 frames a second), unit variance per channel -> a 6.0 M-parameter 1D
U-Net (downsampling 5x twice: 250, 50, 10 frames; self-attention over the 10)
conditioned on the lead family (piano, strings, guitar, organ), the key and the
tempo, each dropped on its own in training so that any of them may be left out,
with classifier-free guidance, and told where each frame falls in the bar at that
tempo (config.latent.meter); v-prediction on the cosine schedule, DPM-Solver++(3M)
in 20 steps. Clips longer than 4 s: config.latent.seconds (windows continuing each
other).

  python experiments/main.py --config=experiments/configs/music_spectral_autoencoder_cpu.py \
      --workdir=runs/music_ae
  python experiments/main.py --config=experiments/configs/music_latent_cpu.py \
      --workdir=runs/music_latent --config.latent.autoencoder_workdir=runs/music_ae
  python experiments/main.py --workdir=runs/music_latent --mode=export --precision=float16 \
      --config.sampler.guidance_scale=4

pretrained/music_latent_cpu was trained in three runs (its export.json lists them): 8,000
steps without the meter, 6,000 more at 2e-4, then 6,000 with it
(--config.train.init_from=<the last> --config.train.init_exclude='^position/').
"""

from experiments.configs import music_spectral_autoencoder_cpu


def get_config():
  config = music_spectral_autoencoder_cpu.get_config()
  config.task = 'latent'
  config.latent.autoencoder_workdir = 'pretrained/music_latent_cpu/autoencoder'
  config.latent.class_conditional = True
  config.latent.attributes = ('key', 'tempo')
  config.latent.meter = True             # each frame placed in the bar (tasks/meter.py)
  config.latent.label_dropout = 0.1
  config.data.segment_length = 64000     # the whole 4 s clip
  config.diffusion.schedule = 'cosine'
  config.diffusion.num_steps = 1000
  config.diffusion.prediction = 'v'
  config.diffusion.loss = 'l2'
  config.model.name = 'unet1d'
  config.model.unet1d.channels = (112, 224, 224)   # 6.0 M parameters
  config.model.unet1d.blocks_per_level = 2
  config.model.unet1d.downsample = 5
  config.model.unet1d.attention_heads = 4  # over the coarsest level's 10 positions (0.4 s each)
  config.sampler.name = 'dpm_solver'
  config.sampler.num_steps = 20
  config.sampler.guidance_scale = 2.0
  config.sampler.num_samples = 8
  config.train.batch_size = 16
  config.train.learning_rate = 5e-4
  config.train.warmup_steps = 200
  config.train.num_steps = 8000   # 54 min on 2 cores
  config.train.ema_decay = 0.999
  config.train.log_every = 100
  config.train.eval_every = 1000
  config.train.checkpoint_every = 500
  config.train.sample_every = 8000
  return config
