"""The shipped models under pretrained/ load and run right after install."""

import glob
import os
import shutil

import numpy as np
import pytest

import audiodiff

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, 'pretrained', '*',
                                                                    'params.msgpack')))


def test_pretrained_models_are_shipped_within_20_mb():
  assert EXPORTS, 'no exported model under pretrained/'
  for directory in EXPORTS:  # frozen models (an enhancer's predictor) count too
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory)
               for f in files if os.path.relpath(root, directory).split(os.sep)[0] != 'samples')
    assert size <= 20 * 2**20, (directory, size)


@pytest.mark.parametrize('directory', EXPORTS, ids=os.path.basename)
def test_pretrained_model_runs(directory):
  model = audiodiff.load(directory)
  if 'enhance' in model.task.api_methods:
    t = np.arange(model.sample_rate) / model.sample_rate
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    audio = model.enhance(tone + 0.01 * np.random.default_rng(0).normal(size=len(t)))
    assert audio.shape == tone.shape
  elif 'vocode' in model.task.api_methods:
    t = np.arange(model.sample_rate // 2) / model.sample_rate
    audio = model.vocode(audio=(0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert audio.shape == t.shape   # the input's length, also past the last whole hop
  elif 'synthesize' in model.task.api_methods:
    if shutil.which('espeak-ng') is None and model.config.tts.symbols == 'phonemes':
      pytest.skip('espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)')
    audio = model.synthesize('Good morning.')[0]['audio']
    assert 0.3 * model.sample_rate < len(audio) < 3 * model.sample_rate
  else:  # generation, in the waveform or a latent space: clips of segment_length
    audio, _ = model.sample(1)
    assert audio.shape == (1, model.config.data.segment_length)
  assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 1e-3


def test_shipped_tts_is_understood_by_a_recogniser(espeak_ng):
  """pretrained/tts_cpu speaks held-out-style sentences that pocketsphinx
  transcribes with a word error rate below 0.5 (flite's own voice: 0.24 on
  the 40-sentence benchmark)."""
  pytest.importorskip('pocketsphinx')
  from audiodiff.tts import intelligibility  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'tts_cpu'))
  texts = ['The old farmer painted seven green doors.',
           'Maria will carry the heavy basket to the station tomorrow.']
  audios = [r['audio'] for r in model.synthesize(texts)]
  assert intelligibility.score(audios, model.sample_rate, texts)['wer'] < 0.5


def test_shipped_enhancer_cleans_a_held_out_voice(espeak_ng):
  """pretrained/enhance_cpu on a sentence by espeak_gb_f (never trained on)
  in white noise at 5 dB: SI-SDR rises by more than 5 dB."""
  from audiodiff.metrics import audio_metrics  # pylint: disable=g-import-not-at-top
  from audiodiff.data import flite_speech, noise  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'enhance_cpu'))
  clean = next(flite_speech.render(['The old boat drifted past the quiet harbour wall.'],
                                   model.sample_rate, voice='espeak_gb_f'))
  noisy = noise.degrade(clean, np.random.default_rng(0), 'white', 5.0, model.sample_rate)
  gain = audio_metrics.si_sdr(clean, model.enhance(noisy)) - audio_metrics.si_sdr(clean, noisy)
  assert gain > 5.0, gain


def test_shipped_enhancer_cleans_the_unseen_recorded_speaker(asterisk_sounds):
  """pretrained/enhance_cpu on a studio recording of june (a speaker never
  trained on) in white noise and in recorded music at 5 dB: SI-SDR rises."""
  del asterisk_sounds
  from audiodiff.metrics import audio_metrics  # pylint: disable=g-import-not-at-top
  from audiodiff.data import asterisk, noise  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'enhance_cpu'))
  path = os.path.join(asterisk.SOUNDS_DIR, 'fr_CA_f_June', 'vm-intro.g722')  # 7.2 s
  clean = asterisk.trim_silence(asterisk.decode_g722(path), asterisk.G722_RATE)
  music = asterisk.music_tracks('test', model.sample_rate)
  # On june the model gains least on white noise (benchmarks/README.md,
  # "Speech enhancement"), and on clips under a second it may gain nothing.
  for noise_type, least in (('white', 4.0), ('recorded_music', 2.0)):
    noisy = noise.degrade(clean, np.random.default_rng(0), noise_type, 5.0, model.sample_rate,
                          music_pool=music)
    gain = audio_metrics.si_sdr(clean, model.enhance(noisy)) - audio_metrics.si_sdr(clean, noisy)
    assert gain > least, (noise_type, gain)


def test_shipped_vocoder_beats_griffin_lim_on_the_unseen_recorded_speaker(asterisk_sounds):
  """pretrained/vocoder_cpu resynthesises a studio recording of june (a
  speaker it never trained on) from its mel closer to the recording than
  Griffin-Lim with 32 iterations does (multi-resolution STFT distance)."""
  del asterisk_sounds
  from audiodiff.audio import spectral  # pylint: disable=g-import-not-at-top
  from audiodiff.data import asterisk  # pylint: disable=g-import-not-at-top
  from audiodiff.metrics import audio_metrics  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'vocoder_cpu'))
  path = os.path.join(asterisk.SOUNDS_DIR, 'fr_CA_f_June', 'vm-intro.g722')
  clean = asterisk.trim_silence(asterisk.decode_g722(path), asterisk.G722_RATE)[:3 * 16000]
  hop = model.config.audio.hop_length
  clean = (0.5 * clean / np.abs(clean).max())[:len(clean) // hop * hop].astype(np.float32)
  mel = spectral.log_mel(clean[None], model.config.audio)
  griffin_lim = np.asarray(spectral.griffin_lim(mel, model.config.audio, num_iters=32))[0]
  vocoded = model.vocode(mel=np.asarray(mel)[0])
  ours = audio_metrics.multi_resolution_stft_distance(clean, vocoded)
  theirs = audio_metrics.multi_resolution_stft_distance(clean, griffin_lim)
  assert ours < theirs, (ours, theirs)
