"""The frame vocoder fine-tuned on a TTS model's own mels (pretrained/tts_cpu's copy).

Tacotron 2's recipe for a vocoder behind an acoustic model: it learns from
the model's teacher-forced mels (the recording's durations, the model's
spectra) to give the recording itself. Make the pairs first:

  python experiments/teacher_forced_data.py --model=pretrained/tts_cpu --output=DIR
  python experiments/main.py --config=experiments/configs/frame_vocoder_tts_cpu.py \
      --config.data.folder=DIR --workdir=RUN

It warm-starts from pretrained/vocoder_cpu (frame_vocoder_cpu.py) at a lower
learning rate. The pairs come from the TTS corpus's training sentences
only: benchmarks/tts_intelligibility.py's test sentences stay out.
"""

from experiments.configs import frame_vocoder_cpu


def get_config():
  config = frame_vocoder_cpu.get_config()
  config.data.name = 'audio_folder'
  config.data.folder = ''   # experiments/teacher_forced_data.py's --output
  config.data.voices = ()
  config.vocoder.mel_input = 'noisy'
  config.train.init_from = 'pretrained/vocoder_cpu'
  config.train.learning_rate = 3e-4
  config.train.warmup_steps = 100
  config.train.num_steps = 1500
  config.train.keep_checkpoints = 6
  config.train.sample_every = 1500
  return config
