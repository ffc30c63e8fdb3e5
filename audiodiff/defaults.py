"""Every default of audiodiff, in one place: the base config.

The recipes (experiments/configs/*.py) start from it and change only what
differs (`from audiodiff import defaults`; `config = defaults.get_config()`);
a saved config.json is read over it (run/experiment.py, read_config).
Override any field from the command line: `--config.train.learning_rate=1e-4`.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # What the run learns; one module under audiodiff/tasks/ each:
  # 'generate' (unconditional or class-conditional audio), 'vocoder'
  # (log-mel -> waveform) or 'frame_vocoder' (log-mel -> complex STFT), ...
  config.task = 'generate'

  # Task settings, one section per task (only the chosen task's is read).
  config.generate = ml_collections.ConfigDict(dict(
      class_conditional=False,  # labels in, classifier-free guidance out
      num_classes=0,        # 0: the dataset's class count; id num_classes = "no label"
      class_names=(),       # (): the dataset's; names the sample files
      label_dropout=0.1,    # p(label -> "no label") in training, for guidance
  ))
  config.vocoder = ml_collections.ConfigDict(dict(
      # Long inputs are vocoded in overlapping chunks, cross-faded.
      chunk_frames=128,
      overlap_frames=8,
      batch_chunks=2,       # chunks per network batch (bounds memory)
      prior='standard',     # 'standard' N(0, I), 'energy' (PriorGrad: per-frame std
                            # from the mel) or 'griffin_lim' (around the mel's
                            # Griffin-Lim waveform, which the network reads too)
      prior_floor=0.01,     # energy / griffin_lim: the smallest std (silence)
      prior_scale=0.5,      # griffin_lim: std relative to the frame level
      griffin_lim_iters=16,  # griffin_lim: iterations of the estimate
      # config.task='frame_vocoder' (the compressed complex STFT at the mel's
      # frames): where the bridge starts, N(start, prior_scale^2), and the
      # weight of the multi-resolution STFT loss on the one-step output.
      start='pseudo_inverse',  # 'pseudo_inverse' (the mel's NNLS magnitude,
                               # zero phase) or 'griffin_lim' (its phases)
      compression_exponent=0.5,
      compression_scale=0.33,
      stft_loss_weight=1.0,
  ))

  # --mode=restore: training-free restoration with this model as the prior
  # (README, "Restoration").
  config.restore = ml_collections.ConfigDict(dict(
      task='inpaint',       # 'inpaint', 'bandwidth' or 'declip'
      method='',            # 'projection', 'pigdm', 'dps', 'repaint', 'baseline' or '':
                            # the best measured for the task (restore.DEFAULT_RECIPE,
                            # which then sets start, start_level, refine_min_gap_ms,
                            # start_order, low_band_hz, center_gain, envelope_hz)
      gaps='',              # inpaint: 'START-END,...' in seconds, e.g. '0.50-0.55'
      taper_ms=1.0,         # inpaint: raised-cosine ramps around each gap
      cutoff_hz=0.0,        # bandwidth: the input's cutoff
      filter='brickwall',   # bandwidth: 'brickwall' or 'butterworth' (order 8)
      quiet_gate_db=0.0,    # bandwidth: fade out the added band in frames whose input is
                            # this many dB below its loudest (0: off; quiet_gate.py)
      clip_level=0.0,       # declip: the clipping level (0: detect from the input)
      guidance=0.0,         # dps / pigdm strength (0: the method's default)
      data_std=0.0,         # pigdm: signal scale (0: RMS of the reliable input)
      noise_std=0.0,        # pigdm: measurement noise
      resample=1,           # repaint: RePaint's resampling count (1: none)
      jump=1,               # repaint: steps undone per resampling
      start='noise',        # 'noise', or 'baseline': SDEdit from the classical method's output
      start_level=0.3,      # start='baseline': the reverse process starts at this fraction
                            # of the trained steps (and runs this share of the sampler's)
      refine_min_gap_ms=0.0,  # start='baseline', inpaint: shorter gaps keep the baseline's
                              # fill (0: every gap refined)
      start_order=0,        # start='baseline', inpaint: the AR order of the Janssen fill the
                            # prior starts from (0: Janssen's own, 3 x gap in 32-512)
      low_band_hz=0.0,      # start='baseline', inpaint: the refined gaps' band below this from
                            # the start_order fill, above from Janssen's own order (0: one
                            # fill; gap_bands.py)
      center_gain=1.0,      # ...and that low band's gain over each gap's middle (1: as filled)
      envelope_hz=0.0,      # ...and above this, the band energies of the baseline's fill in
                            # shorter gaps on the line between the frames either side (0: as
                            # filled; gap_envelope.py)
      overlap=0.25,         # fraction of the prior's window shared by neighbours
      batch_windows=4,      # windows per network batch (bounds memory)
      span_seconds=30.0,    # files longer than 1.5 spans go a span at a time (bounds memory)
      average=1,            # restorations averaged (K > 1: towards the posterior mean)
  ))

  # config.task='enhance': noisy speech -> clean speech (README, "Speech
  # enhancement"), in the compressed complex STFT (SGMSE+).
  config.enhance = ml_collections.ConfigDict(dict(
      method='storm',         # 'storm', 'sgmse' or 'predictive'
      predictor='',           # storm: a trained 'predictive' run or export
      prior_scale=0.5,        # s: the diffusion's noise std at the last step
      n_fft=512,
      hop_length=128,
      compression_exponent=0.5,
      compression_scale=0.15,
      input_rms=0.05,         # the noisy input is scaled to this RMS first
      noise_types=('white', 'pink', 'brown', 'hum', 'babble', 'music', 'reverb',
                   'bandlimit'),
      snr_db=(-5.0, 20.0),    # training mixtures, uniform
      babble_utterances=48,   # utterances of the split that make babble
      wiener_input=False,     # the network also reads a clip-wise Wiener filter's output
      si_sdr_weight=0.0,      # predictive: weight per dB of a -SI-SDR term on the waveform
      augment=(),             # training only: randomise the clean speech (data/augment.py:
                              # 'tilt', 'eq', 'mic', 'level', 'room', 'speed', 'bandlimit')
      test_voices=('rms',),   # held out of training, for --mode=eval
      test_utterances=4,      # per held-out synthetic voice
      recorded_test_utterances=8,  # per held-out recorded speaker (data.name='real_speech')
      test_snr_db=(0.0, 5.0, 10.0),
      window_frames=256,      # --mode=enhance: frames per window of long files
      overlap_frames=32,
      batch_windows=4,
      shifts=1,               # estimates averaged, each delayed by a hop / shifts more
  ))

  # config.task='tts': text -> mel (Grad-TTS) -> waveform (README,
  # "Text-to-speech"). The decoder is config.model (a U-Net reading mu_y);
  # the text encoder and duration predictor are config.model.grad_tts.
  # config.task='autoencoder': the audio VAE of latent diffusion (README,
  # "Music: latent diffusion"); loss MR-STFT + kl_weight * KL, plus the
  # adversarial terms when their weights are > 0 (model.autoencoder.adversarial).
  config.autoencoder = ml_collections.ConfigDict(dict(
      kl_weight=1e-4,
      adversarial_weight=0.0,  # hinge generator loss
      feature_weight=0.0,      # discriminator feature matching
      adversarial_start=2000,  # step the generator's adversarial terms start
      # Squared error of the reconstruction's compressed complex STFT
      # (model.spectral_autoencoder's), which teaches phase.
      complex_weight=0.0,
      # (n_fft, hop) of each resolution of the MR-STFT loss (Hann windows of n_fft).
      stft_resolutions=((256, 64), (512, 128), (1024, 256)),
  ))
  # config.task='latent': diffusion on a trained autoencoder's latents.
  config.latent = ml_collections.ConfigDict(dict(
      autoencoder_workdir='',  # the trained autoencoder (a run or an export)
      scaling_clips=64,        # training clips that set the latent shift and scale
      class_conditional=True,  # as config.generate
      num_classes=0,
      class_names=(),
      label_dropout=0.1,       # also each attribute's, on its own
      # Dataset features learned beside the class (tasks/attributes.py):
      # ('key', 'tempo') for midi_music; each optional when sampling.
      attributes=(),
      # Give each latent frame its place in the bar, from the tempo
      # (tasks/meter.py; needs 'tempo' in attributes).
      meter=False,
      # What --mode=sample asks for ('' / 0: not given): a class name, a
      # major key ('D', 'Eb'), beats per minute.
      family='',
      key='',
      tempo=0.0,
      # Guidance on one part alone (family, key, tempo), on top of
      # config.sampler.guidance_scale: one more network call per part not 1.
      guidance=ml_collections.ConfigDict(dict(family=1.0, key=1.0, tempo=1.0)),
      # Clips longer than the trained window (0: one window): windows
      # overlapping by overlap_seconds, each continuing the last.
      seconds=0.0,
      overlap_seconds=1.0,
  ))

  config.tts = ml_collections.ConfigDict(dict(
      symbols='phonemes',     # 'phonemes' (espeak-ng via phonemizer) or 'characters'
      intersperse_blank=True,  # a blank token between symbols (Grad-TTS)
      max_tokens=256,         # tokens per utterance, blanks included
      mel_scale=11.5,         # decoder units: (log mel - 0.5) * mel_scale (1 ~ 1 neper)
      segment_frames=128,     # decoder crop in training (Grad-TTS's out_size)
      length_scale=1.0,       # > 1 speaks slower
      vocoder_workdir='',     # a trained vocoder run or export ('': Griffin-Lim)
      test_utterances=20,     # --mode=eval: held-out sentences scored
  ))

  # Audio front end: every sample-rate / STFT / mel parameter lives here.
  config.audio = ml_collections.ConfigDict(dict(
      sample_rate=22050,
      n_fft=1024,
      hop_length=256,
      win_length=1024,
      n_mels=80,
      f_min=20.0,
      f_max=11025.0,
  ))

  config.data = ml_collections.ConfigDict(dict(
      # 'synthetic_notes' (built in, generated offline), 'audio_folder',
      # 'flite_speech' (rendered offline with flite), 'real_speech' (recorded
      # prompts, data/real_speech.py), or 'tfds:<catalog name>'.
      name='synthetic_notes',
      data_dir='',          # '' -> ~/.cache/audiodiff/tfds
      folder='',            # audio_folder: directory of wav/flac/ogg files
      skip_bad_files=False,  # audio_folder: skip unreadable / NaN / empty files
      audio_key='audio',    # tfds catalog datasets: feature names
      label_key='label',
      segment_length=16384,  # samples per training example (random crop/pad)
      normalize='peak',     # 'peak', 'loudness' or 'none'
      num_examples=512,     # synthetic_notes: clips generated per split
      num_workers=0,        # grain worker processes (0: in-process)
      max_text_length=256,  # 'text' feature: UTF-8 bytes, zero-padded / cut
      voices=('slt',),      # flite_speech, real_speech: voices (synthetic ones speak num_examples)
      clip_seconds=4.0,     # midi_music: length of each rendered clip
      soundfont='',         # midi_music: a General MIDI .sf2 ('': the first Debian one found)
  ))

  config.diffusion = ml_collections.ConfigDict(dict(
      schedule='linear',    # 'linear', 'cosine', 'sigmoid' or 'explicit'
      num_steps=50,         # T, the trained number of diffusion steps
      beta_start=1e-4,
      beta_end=0.05,
      cosine_offset=0.008,  # cosine: s in Nichol & Dhariwal
      sigmoid_start=-3.0,   # sigmoid: range of the logistic and its temperature
      sigmoid_end=3.0,
      sigmoid_tau=1.0,
      log_snr_shift=0.0,    # added to every step's log-SNR (schedules.shift_log_snr)
      betas=(),             # explicit: the list of betas (T = its length)
      prediction='eps',     # what the network predicts: 'eps', 'v' or 'x0'
      loss='l1',            # 'l1' or 'l2'
      snr_weighting='none',  # 'none' or 'min_snr' (with min_snr_gamma)
      min_snr_gamma=5.0,
  ))

  # The network: config.model.name picks one, built from its own section
  # below, whose fields are the arguments of its builder in
  # audiodiff/models/__init__.py (the task adds the inputs it reads).
  config.model = ml_collections.ConfigDict(dict(
      name='diffwave',      # 'diffwave', 'unet1d', 'convnext1d', 'frame_prior', 'mlp',
                            # 'autoencoder' or 'spectral_autoencoder'
      diffwave=dict(
          residual_layers=30,
          residual_channels=64,
          dilation_cycle=10,
          formulation='auto',  # 'scan', 'unrolled' or 'auto' (per backend, models/__init__.py)
          embedding_dim=128,   # sinusoidal step embedding width
          dropout=0.0,         # dropout rate inside the network, training only
      ),
      unet1d=dict(
          channels=(32, 64, 128),  # per level; each level downsamples by `downsample`
          blocks_per_level=2,
          downsample=4,
          attention_heads=0,   # > 0: self-attention over the coarsest level's positions
          attention_levels=1,  # ... and over as many of the coarsest levels' as this
          embedding_dim=128,
          dropout=0.0,
      ),
      convnext1d=dict(        # over STFT frames (config.task='frame_vocoder')
          channels=256,
          intermediate=512,    # each block's MLP width
          num_blocks=6,
          kernel_size=7,       # frames of each depthwise conv
          embedding_dim=64,
      ),
      # A waveform denoiser over a tight STFT frame (models/frame_prior.py):
      # the restoration prior; it computes at frame rate, n_fft / 2 hop.
      frame_prior=dict(
          n_fft=512,
          channels=256,
          intermediate=768,
          num_blocks=8,
          kernel_size=7,
          embedding_dim=64,
      ),
      mlp=dict(               # the seed example
          hidden=512,
          embedding_dim=128,
          dropout=0.0,
      ),
      # The audio VAE (config.task='autoencoder'): `patch` samples per step,
      # then one block per stride; hop = patch * prod(strides).
      autoencoder=dict(
          patch=8,
          channels=32,
          strides=(4, 4),
          latent_channels=16,
          max_channels=256,
          adversarial=False,  # a multi-scale STFT discriminator (adversarial terms)
      ),
      # The VAE over the compressed complex STFT (models/spectral_autoencoder.py):
      # ConvNeXts over frames; hop = stft_hop.
      spectral_autoencoder=dict(
          n_fft=1024,
          stft_hop=256,
          decoder_n_fft=0,    # the decoder's STFT window (0: n_fft); longer resolves partials
          exponent=0.5,
          scale=0.33,
          channels=192,
          intermediate=512,
          encoder_blocks=3,
          decoder_blocks=6,
          kernel_size=7,
          latent_channels=32,
          adversarial=False,  # a multi-scale STFT discriminator (adversarial terms)
      ),
      # config.task='tts': Grad-TTS's text encoder and duration predictor
      # around the decoder config.model.name names.
      grad_tts=dict(
          channels=128,
          layers=4,
          heads=2,
          hidden=256,         # feed-forward width
          kernel=3,
          window=4,           # relative positions in [-window, window]
          duration_channels=128,
          dropout=0.1,
      ),
  ))

  config.sampler = ml_collections.ConfigDict(dict(
      # The default, chosen from benchmarks/sampler_accuracy.py
      # (benchmarks/README.md, "Samplers"): DPM-Solver++(3M), lambda-uniform grid.
      name='dpm_solver',    # 'ddpm', 'ddim', 'fast', 'dpm_solver' or 'heun'
      num_steps=20,         # ddim / dpm_solver / heun: network calls (heun: odd)
      eta=0.0,              # ddim: 0 deterministic, 1 ancestral-like
      grid='',              # ddim / dpm_solver / heun: 'uniform_t', 'log_snr' or
                            # 'karras' ('' : the sampler's own default)
      order=3,              # dpm_solver: 2 (2M) or 3 (3M)
      churn=0.0,            # heun: EDM's S_churn (0: deterministic)
      fast_betas=(1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5),  # fast: DiffWave list
      guidance_scale=1.0,   # classifier-free guidance w (1: no guidance)
      temperature=1.0,      # scales the starting noise
      clip_x0=False,        # clip predicted x0 to [-1, 1]
      num_samples=4,
      batch_size=32,        # --mode=sample: outputs generated (and held) at once
  ))

  config.train = ml_collections.ConfigDict(dict(
      num_steps=1000,
      batch_size=16,        # global batch size
      microbatches=1,       # gradient accumulation: the batch runs in this many slices
      learning_rate=2e-4,
      warmup_steps=100,
      decay='cosine',       # 'cosine' or 'constant' after warmup
      weight_decay=0.0,
      grad_clip_norm=1.0,
      # Stop when the loss or parameter norm exceeds this many times its
      # running reference (the gradient norm: its square), or turns NaN/inf.
      divergence_factor=100.0,
      ema_decay=0.999,
      compute_dtype='float32',  # 'float32' or 'bfloat16'
      # 'compute' or 'bfloat16': DiffWave's matrix products take bfloat16
      # operands and accumulate in compute_dtype (faster on AVX512-BF16 CPUs;
      # benchmarks/README.md).
      matmul_dtype='compute',
      log_every=50,
      eval_every=500,
      eval_batches=4,
      sample_every=1000,
      checkpoint_every=500,
      keep_checkpoints=3,
      # Fine-tuning: start from a run's or an export's (EMA) parameters, with a
      # fresh optimizer at step 0; parameter paths matching the regular
      # expression init_exclude keep their fresh initialisation (run/warm_start.py).
      init_from='',
      init_exclude='',
      # Only the parameters whose path matches this regular expression are
      # trained ('^decoder/': an autoencoder's decoder, its latents kept); '' all.
      trainable='',
  ))
  return config
