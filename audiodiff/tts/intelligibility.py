"""Intelligibility of synthetic speech: offline recognition and word error rate.

`transcribe` runs pocketsphinx with its bundled US English acoustic model,
language model and CMU dictionary (no download), and `word_error_rate` scores
the transcripts against the texts with jiwer. Both packages are optional
(`pip install -e '.[eval]'`) and are imported only when first needed.

pocketsphinx is a small, old recogniser: its WER on clean flite speech is the
reference to compare a TTS model against, not an absolute figure.
"""

import math
import os
import re
import threading
import unicodedata

import numpy as np
import scipy.signal

from audiodiff.errors import UserError

INSTALL_HINT = "pip install -e '.[eval]' (installs pocketsphinx and jiwer)"
# What the bundled acoustic model expects: 16-bit mono PCM at this rate.
RECOGNISER_RATE = 16000
# Audio whose peak is below this (-60 dBFS) counts as silence; pocketsphinx
# would still hallucinate a word or two in it.
SILENCE_PEAK = 1e-3
# Quieter audio is scaled up to PEAK_TARGET before 16-bit quantisation.
QUIET_PEAK = 0.5
PEAK_TARGET = 0.9

# Dashes and slashes separate words ("twenty-three"); other punctuation goes.
_WORD_SEPARATORS = re.compile(r'[-\u2010-\u2015/]')

_decoder = None
_decoder_pid = None
_decoder_lock = threading.Lock()


def _missing(package):
  return UserError(f'{package} is not installed: {INSTALL_HINT}')


def _get_decoder():
  """The process's pocketsphinx Decoder, created on first use (~0.3 s).

  A forked child makes its own rather than share the parent's.
  """
  global _decoder, _decoder_pid
  if _decoder is None or _decoder_pid != os.getpid():
    try:
      import pocketsphinx  # pylint: disable=import-outside-toplevel
    except ImportError as e:
      raise _missing('pocketsphinx') from e
    # Defaults: the bundled en-us model, en-us.lm.bin and cmudict-en-us.dict.
    _decoder = pocketsphinx.Decoder(samprate=RECOGNISER_RATE,
                                    loglevel='FATAL')
    _decoder_pid = os.getpid()
  return _decoder


def _to_pcm16(audio, sample_rate):
  """float [L] at sample_rate -> 16 kHz little-endian int16 bytes, or None
  for empty or silent audio."""
  audio = np.squeeze(np.asarray(audio, dtype=np.float64))
  if audio.ndim != 1:
    raise ValueError(f'audio must be mono [L], got shape {audio.shape}.')
  if not np.all(np.isfinite(audio)):
    raise ValueError('audio contains NaN or infinite samples.')
  sample_rate = int(sample_rate)
  if sample_rate <= 0:
    raise ValueError(f'sample_rate must be positive, got {sample_rate}.')
  if audio.size == 0:
    return None
  audio = audio - audio.mean()
  peak = np.abs(audio).max()
  if peak < SILENCE_PEAK:
    return None
  if peak < QUIET_PEAK:
    audio = audio * (PEAK_TARGET / peak)
  if sample_rate != RECOGNISER_RATE:
    g = math.gcd(sample_rate, RECOGNISER_RATE)
    audio = scipy.signal.resample_poly(audio, RECOGNISER_RATE // g,
                                       sample_rate // g)
  pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype('<i2')
  return pcm.tobytes()


def transcribe(audio, sample_rate):
  """Words pocketsphinx recognises in one utterance.

  Args:
    audio: float mono [L] in [-1, 1] (louder is clipped; quiet audio is peak
      normalised), numpy or JAX.
    sample_rate: rate of `audio` in Hz; resampled to 16 kHz when different.

  Returns:
    The lower-case words separated by single spaces; '' for empty or silent
    audio (peak below -60 dBFS) or when nothing is recognised.

  Raises:
    UserError: pocketsphinx is not installed.
    ValueError: audio is not [L] or not finite, or sample_rate <= 0.
  """
  decoder = _get_decoder()
  pcm = _to_pcm16(audio, sample_rate)
  if pcm is None:
    return ''
  with _decoder_lock:
    decoder.start_utt()
    # full_utt: normalise the cepstra over the whole utterance (offline).
    decoder.process_raw(pcm, no_search=False, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
  if hypothesis is None:
    return ''
  return ' '.join(hypothesis.hypstr.lower().split())


def normalize_transcript(text):
  """The form WER compares: lower case, no punctuation, single spaces.

  Dashes and slashes become spaces ("twenty-three" -> "twenty three");
  other punctuation (apostrophes included) is dropped: "Don't!" -> "dont".

  Args:
    text: a str.

  Returns:
    str, with no leading or trailing space.
  """
  text = _WORD_SEPARATORS.sub(' ', unicodedata.normalize('NFKC', text))
  text = ''.join(c for c in text
                 if not unicodedata.category(c).startswith('P'))
  return ' '.join(text.lower().split())


def word_error_rate(references, hypotheses):
  """Corpus-level word error rate (S + D + I) / N, both normalised first.

  Errors and reference words are summed over all utterances, so long
  sentences weigh more than short ones (not a mean of per-utterance WERs).
  An empty hypothesis counts every reference word as a deletion.

  Args:
    references: [U] reference texts, with at least one word in all.
    hypotheses: [U] recognised texts (may be '').

  Returns:
    float >= 0 (above 1 with many insertions).

  Raises:
    UserError: jiwer is not installed.
    ValueError: different lengths, or no reference words at all.
  """
  try:
    import jiwer  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise _missing('jiwer') from e
  if isinstance(references, str) or isinstance(hypotheses, str):
    raise ValueError('references and hypotheses must be sequences of str, '
                     'not str.')
  references = [normalize_transcript(t) for t in references]
  hypotheses = [normalize_transcript(t) for t in hypotheses]
  if len(references) != len(hypotheses):
    raise ValueError(f'{len(references)} references but {len(hypotheses)} '
                     'hypotheses.')
  if not any(references):
    raise ValueError('The references contain no words; WER is undefined.')
  output = jiwer.process_words(references, hypotheses)
  errors = output.substitutions + output.deletions + output.insertions
  return float(errors / (output.substitutions + output.deletions
                         + output.hits))


def wer_ratio_interval(texts, wers, reference_wers, *, confidence=0.95, resamples=2000,
                       seed=0):
  """Corpus WER of one system over another's on the same texts, with a
  paired bootstrap interval over utterances (resampled with replacement, the
  same utterances for both systems).

  Args:
    texts: [U] the texts spoken.
    wers, reference_wers: [U] per-utterance WERs of the two systems (as
      `score` returns them).
    confidence: the interval's coverage, in (0, 1).

  Returns:
    (ratio, low, high): the corpus WER ratio and the interval's ends
    (inf where a resample has no reference errors).
  """
  if not len(texts) == len(wers) == len(reference_wers) or not len(texts):
    raise ValueError(f'{len(texts)} texts, {len(wers)} and {len(reference_wers)} WERs: give '
                     'one of each per utterance.')
  words = np.array([len(normalize_transcript(t).split()) for t in texts], np.float64)
  errors = np.rint(np.asarray(wers, np.float64) * words)
  reference = np.rint(np.asarray(reference_wers, np.float64) * words)

  def ratio(a, b):
    return np.where(b > 0, a / np.maximum(b, 1), np.where(a > 0, np.inf, 1.0))

  picks = np.random.default_rng(seed).integers(0, len(words), (resamples, len(words)))
  ratios = ratio(errors[picks].sum(1), reference[picks].sum(1))
  tail = 50 * (1 - confidence)
  low, high = np.percentile(ratios, [tail, 100 - tail])
  return float(ratio(errors.sum(), reference.sum())), float(low), float(high)


def score(audios, sample_rate, texts):
  """Transcribes each utterance and scores it against its text.

  Args:
    audios: [U] float mono [L_u] signals (lengths may differ).
    sample_rate: their rate in Hz.
    texts: [U] texts that were spoken, each with at least one word.

  Returns:
    {'wer': corpus-level WER (float),
     'hypotheses': [U] transcripts (str, as from `transcribe`),
     'per_utterance_wer': [U] floats}.

  Raises:
    UserError: pocketsphinx or jiwer is not installed.
    ValueError: len(audios) != len(texts), or a text with no words.
  """
  texts = list(texts)
  audios = list(audios)
  if len(audios) != len(texts):
    raise ValueError(f'{len(audios)} audios but {len(texts)} texts.')
  for i, text in enumerate(texts):
    if not normalize_transcript(text):
      raise ValueError(f'texts[{i}] = {text!r} has no words to score.')
  hypotheses = [transcribe(a, sample_rate) for a in audios]
  return {
      'wer': word_error_rate(texts, hypotheses),
      'hypotheses': hypotheses,
      'per_utterance_wer': [word_error_rate([t], [h])
                            for t, h in zip(texts, hypotheses)],
  }
