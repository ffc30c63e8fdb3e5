"""The intelligibility scorer: transcript normalisation, WER, and pocketsphinx
on flite speech.

Tests that render speech skip when the `flite` binary is not installed
(Debian/Ubuntu: `apt-get install flite`); those that need pocketsphinx or
jiwer skip when the package is missing.
"""

import sys

import numpy as np
import pytest

from audiodiff.errors import UserError
from audiodiff.tts import intelligibility

SENTENCE = 'The old farmer carried seven red apples to the market.'


def _require(package):
  pytest.importorskip(package, reason=f'{package} is not installed '
                      f'({intelligibility.INSTALL_HINT})')



def _render(text, sample_rate, tmp_path):
  from audiodiff.data import flite_speech  # pylint: disable=import-outside-toplevel
  return flite_speech.render_utterance(text, sample_rate,
                                       tmp_path / f'{sample_rate}.wav')


@pytest.fixture(scope='module')
def rendered(tmp_path_factory, flite):
  """{16000: float32 [L], 22050: float32 [L']}: SENTENCE spoken by flite."""
  _require('pocketsphinx')
  tmp_path = tmp_path_factory.mktemp('flite')
  return {rate: _render(SENTENCE, rate, tmp_path) for rate in (16000, 22050)}


def test_normalize_transcript():
  norm = intelligibility.normalize_transcript
  assert norm('  The OLD farmer,  carried "seven"\tapples!\n') == (
      'the old farmer carried seven apples')
  assert norm("Twenty-three dogs; don't stop.") == 'twenty three dogs dont stop'
  assert norm('') == ''
  assert norm(' ?! ') == ''


def test_word_error_rate_hand_computed():
  _require('jiwer')
  # one [two->too] three [four deleted] five six [seven inserted]: 3 errors
  # over 6 words; the second pair loses both words: 2 deletions over 2.
  refs = ['One two three four five six.', 'alpha beta']
  hyps = ['one too three five six seven', '']
  wer = intelligibility.word_error_rate
  assert wer(refs[:1], hyps[:1]) == pytest.approx(3 / 6)
  assert wer(refs[1:], hyps[1:]) == pytest.approx(1.0)
  # Corpus level: (3 + 2) / (6 + 2), not the mean 0.75 of the two.
  assert wer(refs, hyps) == pytest.approx(5 / 8)
  # Normalisation: case and punctuation are not errors.
  assert wer(['Hello, World!'], ['hello world']) == 0.0


def test_wer_ratio_interval():
  texts = ['a b c d', 'e f', 'g h i j k l']
  ratio_of = intelligibility.wer_ratio_interval
  # The same errors: a ratio of exactly 1 in every resample.
  assert ratio_of(texts, [0.25, 0.5, 1 / 6], [0.25, 0.5, 1 / 6]) == (1.0, 1.0, 1.0)
  # Twice the errors in every utterance: 2 in every resample.
  assert ratio_of(texts, [0.5, 1.0, 2 / 6], [0.25, 0.5, 1 / 6]) == (2.0, 2.0, 2.0)
  # The point is the corpus ratio (errors 1 + 0 + 3 over 1 + 1 + 1), inside
  # its interval, which is wide on three utterances.
  ratio, low, high = ratio_of(texts, [0.25, 0.0, 0.5], [0.25, 0.5, 1 / 6])
  assert ratio == pytest.approx(4 / 3)
  assert low < ratio < high
  with pytest.raises(ValueError, match='one of each'):
    ratio_of(texts, [0.1], [0.1, 0.2, 0.3])


def test_word_error_rate_empty_hypotheses():
  _require('jiwer')
  refs = ['a b c', 'd e']
  assert intelligibility.word_error_rate(refs, ['', '']) == 1.0
  assert intelligibility.word_error_rate(refs, ['a b c', '']) == (
      pytest.approx(2 / 5))


def test_word_error_rate_rejects_bad_input():
  _require('jiwer')
  with pytest.raises(ValueError, match='2 references but 1'):
    intelligibility.word_error_rate(['a', 'b'], ['a'])
  with pytest.raises(ValueError, match='no words'):
    intelligibility.word_error_rate(['', '!'], ['a', ''])


def test_transcribe_silence_and_empty():
  _require('pocketsphinx')
  assert intelligibility.transcribe(np.zeros(16000, np.float32), 16000) == ''
  assert intelligibility.transcribe(np.zeros(0, np.float32), 22050) == ''
  faint = 1e-5 * np.random.default_rng(0).standard_normal(16000)
  assert intelligibility.transcribe(faint.astype(np.float32), 16000) == ''


def test_transcribe_rejects_bad_input():
  _require('pocketsphinx')
  with pytest.raises(ValueError, match='mono'):
    intelligibility.transcribe(np.zeros((2, 100), np.float32), 16000)
  with pytest.raises(ValueError, match='NaN'):
    intelligibility.transcribe(np.full(100, np.nan, np.float32), 16000)


def test_flite_sentence_is_intelligible(rendered):
  hypothesis = intelligibility.transcribe(rendered[16000], 16000)
  assert hypothesis == hypothesis.lower()
  assert intelligibility.word_error_rate([SENTENCE], [hypothesis]) < 0.5


def test_quiet_audio_is_normalised(rendered):
  loud = intelligibility.transcribe(rendered[16000], 16000)
  quiet = intelligibility.transcribe(0.01 * rendered[16000], 16000)
  assert intelligibility.word_error_rate([loud], [quiet]) < 0.25


def test_resampling_gives_similar_transcript(rendered):
  at_16k = intelligibility.transcribe(rendered[16000], 16000)
  at_22k = intelligibility.transcribe(rendered[22050], 22050)
  assert intelligibility.word_error_rate([SENTENCE], [at_22k]) < 0.5
  assert intelligibility.word_error_rate([at_16k], [at_22k]) <= 0.25


def test_score(rendered):
  result = intelligibility.score(
      [rendered[16000], np.zeros(8000, np.float32)], 16000,
      [SENTENCE, 'nothing was said'])
  assert set(result) == {'wer', 'hypotheses', 'per_utterance_wer'}
  assert result['hypotheses'][1] == ''
  per = result['per_utterance_wer']
  assert len(per) == 2 and per[0] < 0.5 and per[1] == 1.0
  assert per[0] < result['wer'] < per[1]


def test_missing_pocketsphinx_is_a_user_error(monkeypatch):
  monkeypatch.setattr(intelligibility, '_decoder', None)
  # A None entry makes `import pocketsphinx` raise ImportError.
  monkeypatch.setitem(sys.modules, 'pocketsphinx', None)
  with pytest.raises(UserError) as info:
    intelligibility.transcribe(np.zeros(16000, np.float32), 16000)
  message = str(info.value)
  assert "pip install -e '.[eval]' (installs pocketsphinx and jiwer)" in message
  assert '\n' not in message


def test_missing_jiwer_is_a_user_error(monkeypatch):
  monkeypatch.setitem(sys.modules, 'jiwer', None)
  with pytest.raises(UserError, match=r"pip install -e '\.\[eval\]'"):
    intelligibility.word_error_rate(['a'], ['a'])
