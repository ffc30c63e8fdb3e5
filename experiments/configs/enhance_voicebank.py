"""Speech enhancement on VoiceBank-DEMAND at 16 kHz (for those who have it).

Put the corpus in the paired layout that audio_folder reads, with the
official split as its train/ and test/ folders:

  VB/train/clean/p226_001.wav ...   (clean_trainset_28spk_wav)
  VB/train/noisy/p226_001.wav ...   (noisy_trainset_28spk_wav)
  VB/test/clean/p232_001.wav ...    (clean_testset_wav: speakers p232, p257)
  VB/test/noisy/p232_001.wav ...    (noisy_testset_wav)

then train the predictor (this config as is) and the StoRM refiner on it
(README, "Speech enhancement"):

  python experiments/main.py --config=experiments/configs/enhance_voicebank.py \
      --config.data.folder=VB --workdir=runs/vb_pred
  python experiments/main.py --config=experiments/configs/enhance_voicebank.py \
      --config.data.folder=VB --config.enhance.method=storm \
      --config.enhance.predictor=runs/vb_pred --workdir=runs/vb

Audio is resampled from 48 kHz at prepare time; --mode=eval and the
benchmarks score the official test set (test/). Without train/ and test/
folders, 5% of the files (by path hash) form the test split. Sizes follow the CPU
config; on a GPU raise config.model.unet1d.channels and the batch.
"""

from experiments.configs import enhance_cpu


def get_config():
  config = enhance_cpu.get_config()
  config.data.name = 'audio_folder'
  config.data.folder = ''
  config.data.voices = ()
  config.enhance.method = 'predictive'
  config.enhance.predictor = ''
  config.enhance.test_utterances = 40  # pairs of the test split
  config.data.segment_length = 256 * 128  # 2.05 s
  config.train.batch_size = 16
  config.train.num_steps = 100000
  config.train.eval_every = 5000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 20000
  return config
