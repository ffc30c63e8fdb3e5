"""Text-to-speech, Grad-TTS style: text -> mel (diffusion) -> waveform.

A text encoder turns tokens (phonemes from espeak-ng, or characters; blanks
between them) into mu [N, n_mels], the mean mel frame of each token, and a
duration predictor guesses how many frames each token lasts. In training,
monotonic alignment search (MAS, in JAX inside the step) finds the
alignment that makes the mel most likely under N(mu, I); it gives the
duration targets and mu_y [T, n_mels], mu spread over the frames. The loss
is the diffusion term (a decoder denoises mel crops whose diffusion ends at
N(mu_y, I): the core's Prior(mean=mu_y)), the prior loss -log N(mel; mu_y,
I) and the duration loss. Synthesis predicts durations, builds mu_y and
samples the mel from N(mu_y, I / temperature^2) back to data; a vocoder
(config.tts.vocoder_workdir) or Griffin-Lim makes the waveform.

The decoder works in "mel units": (DiffWave log mel - 0.5) * mel_scale, so
one unit is about a neper of magnitude and N(mu_y, I) is a sensible
terminal noise (Grad-TTS's log mels have this scale).
"""

import dataclasses
import html
import functools
import re
import unicodedata
import typing

import grain
import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import tasks
from audiodiff.metrics import audio_metrics
from audiodiff.diffusion import samplers
from audiodiff.audio import spectral
from audiodiff.errors import UserError
from audiodiff.tasks import base
from audiodiff.tts import alignment
from audiodiff.tts import text as text_lib

# Silence between the pieces a long text is split into, in seconds.
PIECE_GAP_S = 0.15
# Token and frame counts are padded up to multiples of these (fewer compiles).
TOKEN_BUCKET = 32
FRAME_BUCKET = 64
# Pieces per batch when synthesising.
SYNTHESIS_BATCH = 8


@functools.lru_cache(maxsize=None)
def front_end(kind: str, intersperse_blank: bool) -> text_lib.TextFrontEnd:
  """One text front end per process and setting (phonemizer is slow to start)."""
  return text_lib.TextFrontEnd(kind, intersperse_blank)


@dataclasses.dataclass(frozen=True)
class Tokenize(grain.transforms.RandomMap):
  """element {'text': int32 [max_text_length] UTF-8 bytes, 'text_length'} ->
  plus 'tokens' int32 [max_tokens] (0-padded) and 'num_tokens' int32 []."""
  kind: str
  intersperse_blank: bool
  max_tokens: int
  produces: typing.ClassVar[tuple[str, ...]] = ('tokens', 'num_tokens')

  def random_map(self, element, rng):
    del rng
    raw = np.asarray(element['text'])[:int(element['text_length'])]
    sentence = bytes(raw.astype(np.uint8)).decode('utf-8', errors='replace')
    if not sentence.strip():
      raise UserError('An utterance has no transcript: text-to-speech trains on transcribed '
                      'speech (audio_folder: give every clip a metadata.csv line).')
    ids = front_end(self.kind, self.intersperse_blank).encode(sentence)
    if len(ids) > self.max_tokens:
      raise UserError(f'The transcript {sentence!r} makes {len(ids)} tokens, more than '
                      f'config.tts.max_tokens={self.max_tokens}; raise it.')
    out = dict(element)
    out['tokens'] = np.pad(ids, (0, self.max_tokens - len(ids))).astype(np.int32)
    out['num_tokens'] = np.int32(len(ids))
    return out


def strip_markup(text: str) -> str:
  """Text without SSML/HTML-like tags (<break time="1s"/>), entities decoded."""
  return html.unescape(re.sub(r'</?[A-Za-z][^<>]{0,500}>', ' ', str(text)))


def _preview(text: str, size: int = 40) -> str:
  return repr(text if len(text) <= size else text[:size] + '...')


def _round_up(value: int, multiple: int) -> int:
  return -(-int(value) // multiple) * multiple


@tasks.TASKS.register('tts')
class TextToSpeech(base.Task):
  name = 'tts'
  features = ('audio', 'audio_mask', 'text', 'text_length', 'tokens', 'num_tokens')
  api_methods = ('synthesize',)

  # ---- configuration --------------------------------------------------------
  def check_config(self):
    super().check_config()
    settings, config = self.settings, self.config
    if settings.symbols not in text_lib.SYMBOL_KINDS:
      raise UserError(f'Unknown config.tts.symbols={settings.symbols!r}; choose one of '
                      f'{", ".join(text_lib.SYMBOL_KINDS)}.')
    if config.model.name != 'unet1d':
      raise UserError(f"config.model.name={config.model.name!r}: the TTS decoder reads "
                      "the aligned text encoding as a signal; use 'unet1d'.")
    unet = config.model.unet1d
    factor = unet.downsample ** (len(unet.channels) - 1)
    if settings.segment_frames % factor or FRAME_BUCKET % factor:
      raise UserError(f'config.tts.segment_frames={settings.segment_frames} (and '
                      f'{FRAME_BUCKET}) must be multiples of the U-Net\'s downsampling '
                      f'{factor}.')
    for field in ('mel_scale', 'length_scale'):
      if not settings[field] > 0:
        raise UserError(f'config.tts.{field}={settings[field]} must be > 0.')
    for field in ('max_tokens', 'segment_frames', 'test_utterances'):
      if settings[field] < 1:
        raise UserError(f'config.tts.{field}={settings[field]} must be >= 1.')
    encoder = config.model.grad_tts
    for field in ('channels', 'layers', 'heads'):
      if encoder[field] < 1:
        raise UserError(f'config.model.grad_tts.{field}={encoder[field]} must be >= 1.')
    if encoder.channels % encoder.heads:
      raise UserError(f'config.model.grad_tts.channels={encoder.channels} must be '
                      f'divisible by config.model.grad_tts.heads={encoder.heads}.')

  def model_inputs(self):
    return {'cond_channels': self.config.audio.n_mels,
            'text_symbols': text_lib.num_symbols(self.settings.symbols)}

  @property
  def front_end(self) -> text_lib.TextFrontEnd:
    return front_end(self.settings.symbols, bool(self.settings.intersperse_blank))

  def data_transforms(self, split):
    del split
    return (Tokenize(self.settings.symbols, bool(self.settings.intersperse_blank),
                     int(self.settings.max_tokens)),)

  # ---- mel units ------------------------------------------------------------
  def to_units(self, log_mel):
    """DiffWave log mel [..., n_mels] in [0, 1] -> decoder units."""
    return (log_mel - 0.5) * self.settings.mel_scale

  def from_units(self, units):
    """Decoder units -> DiffWave log mel in [0, 1] (clipped)."""
    return jnp.clip(units / self.settings.mel_scale + 0.5, 0.0, 1.0)

  @property
  def silence(self) -> float:
    """The silent frame's value in decoder units (padding of mu_y)."""
    return -0.5 * self.settings.mel_scale

  # ---- training -------------------------------------------------------------
  def init_variables(self, model, rng, frozen=None):
    del frozen
    frames, n_mels = self.settings.segment_frames, self.config.audio.n_mels
    tokens = jnp.ones((1, 8), jnp.int32)
    x = jnp.zeros((1, frames, n_mels))
    return model.init(rng, tokens, jnp.full((1,), 8, jnp.int32), x, jnp.zeros((1,)),
                      {'signal': x}, method='initialize')['params']

  def example_batch(self, batch_size=1):
    batch = super().example_batch(batch_size)
    batch['tokens'] = np.ones((batch_size, self.settings.max_tokens), np.int32)
    batch['num_tokens'] = np.full((batch_size,), self.settings.max_tokens, np.int32)
    batch['audio_mask'] = np.ones_like(batch['audio'])
    return batch

  def mel_and_lengths(self, batch):
    """batch -> (mel [B, T, n_mels] in units, frames [B] int32)."""
    mel = self.to_units(spectral.log_mel(batch['audio'], self.config.audio))
    frames = jnp.sum(batch['audio_mask'], axis=1).astype(jnp.int32) // self.config.audio.hop_length
    return mel, jnp.minimum(frames, mel.shape[1])

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    """Encoder, MAS and a random decoder crop of segment_frames per utterance.

    aux holds what the prior and duration losses read: mel and mu_y [B, T,
    n_mels], frame_mask [B, T], log_durations and durations [B, N],
    token_mask [B, N].
    """
    del train, frozen
    mel, frames = self.mel_and_lengths(batch)
    tokens, num_tokens = batch['tokens'], batch['num_tokens']
    mu, log_durations = network('encode', tokens, num_tokens)
    frame_mask = jnp.arange(mel.shape[1])[None, :] < frames[:, None]
    token_mask = jnp.arange(tokens.shape[1])[None, :] < num_tokens[:, None]
    # log N(mel_t; mu_n, I) up to a constant, [B, N, T].
    log_p = (-0.5 * jnp.sum(jnp.square(mu), -1)[:, :, None]
             + jnp.einsum('bnd,btd->bnt', mu, mel)
             - 0.5 * jnp.sum(jnp.square(mel), -1)[:, None, :])
    path = alignment.monotonic_alignment_search(jax.lax.stop_gradient(log_p), num_tokens,
                                                frames)
    mu_y = alignment.expand(mu, path)
    # The decoder sees a crop: Grad-TTS's out_size, a fixed cost per step.
    length = self.settings.segment_frames
    if mel.shape[1] < length:
      pad = ((0, 0), (0, length - mel.shape[1]), (0, 0))
      mel_c, mu_c = jnp.pad(mel, pad), jnp.pad(mu_y, pad)
      mask_c = jnp.pad(frame_mask, pad[:2])
    else:
      mel_c, mu_c, mask_c = mel, mu_y, frame_mask
    starts = jax.random.randint(rng, frames.shape, 0, jnp.maximum(frames - length, 0) + 1)
    crop = jax.vmap(lambda x, s: jax.lax.dynamic_slice_in_dim(x, s, length, axis=0))
    x0, mu_seg, mask_seg = crop(mel_c, starts), crop(mu_c, starts), crop(mask_c, starts)
    mu_seg = jnp.where(mask_seg[..., None], mu_seg, self.silence)
    aux = {'mel': mel, 'mu_y': mu_y, 'frame_mask': frame_mask, 'token_mask': token_mask,
           'log_durations': log_durations, 'durations': alignment.durations(path)}
    return base.DiffusionInputs(
        x0=x0, cond={'signal': mu_seg}, prior=samplers.Prior(mean=mu_seg, scale=1.0),
        mask=mask_seg[..., None].astype(jnp.float32), aux=aux)

  def loss_weights(self):
    return {'prior': 1.0, 'duration': 1.0}

  def extra_losses(self, apply_fn, batch, inputs, rng, *, train, frozen=None, step=None):
    """prior: mean -log N(mel; mu_y, I) per frame and channel; duration: mean
    squared error of log durations against log(MAS durations) per token."""
    del apply_fn, batch, rng, train, frozen, step
    aux = inputs.aux
    frame_mask = aux['frame_mask'].astype(jnp.float32)
    n_mels = aux['mel'].shape[-1]
    nll = 0.5 * (jnp.square(aux['mel'] - aux['mu_y']) + jnp.log(2 * jnp.pi))
    prior = jnp.sum(nll * frame_mask[..., None]) / (jnp.sum(frame_mask) * n_mels)
    token_mask = aux['token_mask'].astype(jnp.float32)
    target = jnp.log(1e-8 + aux['durations']) * token_mask
    duration = (jnp.sum(jnp.square(aux['log_durations'] - target) * token_mask)
                / jnp.sum(token_mask))
    return {'prior': prior, 'duration': duration}

  # ---- synthesis ------------------------------------------------------------
  def frames_per_token(self, log_durations, token_mask):
    """Predicted log durations [B, N] -> int32 frames, at least 1 per token
    (as MAS gives) and 0 on padding: round(exp(.) * length_scale). Grad-TTS
    rounds up, which on blank-interspersed text adds half a frame per token
    (+40% length here)."""
    frames = jnp.maximum(jnp.round(jnp.exp(log_durations) * self.settings.length_scale), 1.0)
    return (frames * token_mask).astype(jnp.int32)

  def aligned_prior(self, network, tokens, num_tokens, num_frames: int):
    """tokens [B, N] -> (mu_y [B, num_frames, n_mels] (silence past each
    length), frames [B] int32, alignment [B, N, num_frames])."""
    mu, log_durations = network('encode', tokens, num_tokens)
    token_mask = jnp.arange(tokens.shape[1])[None, :] < num_tokens[:, None]
    durations = self.frames_per_token(log_durations, token_mask)
    path = alignment.durations_to_alignment(durations, num_frames)
    frames = jnp.minimum(jnp.sum(durations, axis=1), num_frames)
    frame_mask = jnp.arange(num_frames)[None, :] < frames[:, None]
    mu_y = jnp.where(frame_mask[..., None], alignment.expand(mu, path), self.silence)
    return mu_y, frames, path

  def align(self, trained, text: str, audio):
    """A recording and its transcript -> the model's view of them, frame by
    frame: {'log_mel': the recording's [T, n_mels] in [0, 1], 'mu_y': the
    encoder's means spread by MAS over those frames [T, n_mels] (units),
    'durations': MAS frames per token [N], 'predicted': the duration
    predictor's [N]}. audio: float32 [L]; T = L // hop_length."""
    ids = self.front_end.encode(text)
    hop = self.config.audio.hop_length
    frames = len(audio) // hop
    # Padded to buckets (few compiles); MAS reads the true lengths.
    tokens = np.pad(ids, (0, _round_up(len(ids), TOKEN_BUCKET) - len(ids)))[None]
    padded = np.pad(np.asarray(audio, np.float32)[:frames * hop],
                    (0, (_round_up(frames, FRAME_BUCKET) - frames) * hop))[None]
    log_mel, mu_y, durations, predicted = jax.device_get(self._align_fn(trained)(
        trained.params, jnp.asarray(tokens, jnp.int32), jnp.asarray([len(ids)], jnp.int32),
        jnp.asarray(padded), jnp.asarray([frames], jnp.int32)))
    return {'log_mel': log_mel[0, :frames], 'mu_y': mu_y[0, :frames],
            'durations': durations[0, :len(ids)], 'predicted': predicted[0, :len(ids)]}

  def _align_fn(self, trained):
    """jitted (params, tokens [1, N], num_tokens [1], audio [1, L], frames
    [1]) -> (log mel, mu_y, MAS durations, predicted durations), padded."""
    def align(params, tokens, num_tokens, audio, frames):
      log_mel = spectral.log_mel(audio, self.config.audio)
      mel = self.to_units(log_mel)
      mu, log_durations = trained.exp.network(params)('encode', tokens, num_tokens)
      log_p = -0.5 * jnp.sum(jnp.square(mu[:, :, None] - mel[:, None]), -1)
      path = alignment.monotonic_alignment_search(log_p, num_tokens, frames)
      token_mask = jnp.arange(tokens.shape[1])[None, :] < num_tokens[:, None]
      return (log_mel, alignment.expand(mu, path), alignment.durations(path),
              self.frames_per_token(log_durations, token_mask))
    return self._jitted_for('align', trained, align)

  def teacher_forced_mel(self, trained, mu_y, *, seed: int = 0):
    """mu_y [T, n_mels] (from `align`) -> the decoder's log mel [T, n_mels]
    in [0, 1] at the recording's own durations (Tacotron's "ground-truth
    aligned" mels: what a vocoder fine-tunes on to meet this model)."""
    frames = mu_y.shape[0]
    padded = jnp.pad(jnp.asarray(mu_y)[None], ((0, 0), (0, -frames % FRAME_BUCKET), (0, 0)),
                     constant_values=self.silence)
    request = base.SampleRequest(shape=padded.shape, names=[''], cond={'signal': padded},
                                 prior=samplers.Prior(mean=padded, scale=1.0))
    units = trained.generate(request, jax.random.PRNGKey(seed))[0, :frames]
    return np.asarray(self.from_units(units))

  def needs_reference(self):
    return True

  def sample_request(self, num_samples, reference_batch=None, network=None):
    """Speaks the transcripts of the first num_samples reference clips."""
    if reference_batch is None or network is None:
      raise UserError('TTS samples speak reference transcripts: pass a batch with '
                      "'tokens' and the network.")
    tokens = jnp.asarray(reference_batch['tokens'][:num_samples])
    num_tokens = jnp.asarray(reference_batch['num_tokens'][:num_samples])
    num_frames = _round_up(reference_batch['audio'].shape[1] // self.config.audio.hop_length,
                           FRAME_BUCKET)
    mu_y, _, _ = self.aligned_prior(network, tokens, num_tokens, num_frames)
    return base.SampleRequest(
        shape=mu_y.shape, names=[f'tts_{i:03d}' for i in range(len(tokens))],
        cond={'signal': mu_y}, prior=samplers.Prior(mean=mu_y, scale=1.0),
        reference=np.asarray(reference_batch['audio'][:num_samples]))

  def frozen_runs(self):
    """The vocoder config.tts.vocoder_workdir names, if any (else Griffin-Lim)."""
    if not self.settings.vocoder_workdir:
      return {}
    return {'vocoder': base.FrozenRun(
        'vocoder_workdir', 'Train one with experiments/configs/diffwave_vocoder_cpu.py, '
        "or set it to '' for Griffin-Lim.")}

  def attach_frozen(self, runs, workdir):
    """Keeps the vocoder on the task; its parameters never enter the TTS
    training step."""
    del workdir
    self.vocoder = runs.get('vocoder')
    if self.vocoder is not None:
      mine, theirs = self.config.audio, self.vocoder.config.audio
      if 'vocode' not in self.vocoder.task.api_methods:
        raise UserError(f'config.tts.vocoder_workdir={self.vocoder.exp.workdir} holds a '
                        f'model of task {self.vocoder.task.name!r}, not a vocoder; give a vocoder '
                        "(e.g. pretrained/vocoder_cpu) or '' for Griffin-Lim.")
      if spectral.mel_from_config(mine) != spectral.mel_from_config(theirs):
        raise UserError(f'{self.vocoder.exp.workdir} is not a vocoder for this config.audio '
                        '(sample rate, STFT and mels must match).')
    return None

  @property
  def vocoder_name(self) -> str:
    return 'Griffin-Lim' if getattr(self, 'vocoder', None) is None else 'the trained vocoder'

  def decode(self, x, frozen=None):
    """Mels [N, T, n_mels] in units -> audio [N, T * hop_length]."""
    del frozen
    log_mel = np.asarray(self.from_units(jnp.asarray(x)))
    if getattr(self, 'vocoder', None) is None:
      return np.asarray(spectral.griffin_lim(log_mel, self.config.audio))
    return np.stack([self.vocoder.vocode(mel=m) for m in log_mel])

  def sample_metrics(self, audio, request):
    """Mel L1 (log mel in [0, 1], over the shorter length) against the
    reference recordings."""
    return {'tts': [{'mel_l1': audio_metrics.mel_l1(ref, est, self.config.audio)}
                    for ref, est in zip(request.reference, np.asarray(audio))]}

  def synthesize(self, trained, texts, *, seed: int = 0):
    """Sentences of any length -> one dict per text: 'audio' float32 [L] at
    config.audio.sample_rate, 'mel' [frames, n_mels] (log mel in [0, 1]),
    'alignment' [tokens, frames] of its first piece, 'pieces' (the text as
    split at punctuation)."""
    if isinstance(texts, str):
      texts = [texts]
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, '__iter__'):
      raise UserError(f'synthesize() takes a string or a list of strings; got '
                      f'{type(texts).__name__}.')
    texts = list(texts)
    for i, sentence in enumerate(texts):
      if not isinstance(sentence, str):
        raise UserError(f'Text {i + 1} is a {type(sentence).__name__}, not a string; give '
                        'synthesize() a string or a list of strings.')
    pieces, encoded, owner = [], [], []
    for i, sentence in enumerate(texts):
      text = text_lib.normalize(strip_markup(sentence))
      if not re.search('[A-Za-z]', text):
        raise UserError(f'Text {i + 1} ({_preview(sentence)}) has nothing to speak for this '
                        'English model (no Latin letters once markup is removed); give '
                        'English text.')
      for piece, ids in self._fitting_pieces(text):
        pieces.append(piece)
        encoded.append(ids)
        owner.append(i)
    outputs = []   # (audio [L], log mel [frames, n_mels], alignment [N, frames])
    for first in range(0, len(pieces), SYNTHESIS_BATCH):
      group = encoded[first:first + SYNTHESIS_BATCH]
      width = _round_up(max(len(g) for g in group), TOKEN_BUCKET)
      tokens = jnp.asarray(np.stack([np.pad(g, (0, width - len(g))) for g in group]))
      num_tokens = jnp.asarray([len(g) for g in group], jnp.int32)
      mu_y, frames, path = self._prior_fn(trained)(trained.params, tokens, num_tokens)
      frames = np.asarray(frames)
      num_frames = _round_up(max(int(frames.max()), 1), FRAME_BUCKET)
      mu_y = mu_y[:, :num_frames]
      request = base.SampleRequest(shape=mu_y.shape, names=[''] * len(group),
                                   cond={'signal': mu_y},
                                   prior=samplers.Prior(mean=mu_y, scale=1.0))
      mels = trained.generate(request, jax.random.PRNGKey(seed), first)
      # The padded batch decodes at once (its length is a multiple of
      # FRAME_BUCKET, so the waveform stage compiles for few shapes).
      audio = self.decode(mels)
      hop = self.config.audio.hop_length
      for j, n in enumerate(frames):
        outputs.append((audio[j, :n * hop], np.asarray(self.from_units(mels[j, :n])),
                        np.asarray(path[j, :len(group[j]), :n])))
    gap = np.zeros(int(PIECE_GAP_S * self.config.audio.sample_rate), np.float32)
    results = []
    for i in range(len(texts)):
      mine = [o for o, k in zip(outputs, owner) if k == i]
      audio = np.concatenate([x for o in mine for x in (o[0], gap)][:-1])
      results.append({'audio': audio.astype(np.float32),
                      'mel': np.concatenate([o[1] for o in mine]),
                      'alignment': mine[0][2],
                      'pieces': [p for p, k in zip(pieces, owner) if k == i]})
    return results

  def _fitting_pieces(self, text):
    """text -> [(piece, token ids)], each piece within config.tts.max_tokens:
    cut at punctuation by characters first, then each piece that still makes
    too many tokens cut in two halves (text_lib.split_in_two), again while
    needed, down to single letters."""
    result = []
    todo = text_lib.split_long(text, self.max_piece_chars)
    self.front_end.encode_many(todo)  # one phonemiser call
    while todo:
      piece = todo.pop(0)
      (ids,) = self.front_end.encode_many([piece])
      if len(ids) <= self.settings.max_tokens or len(piece) <= 1:
        result.append((piece, ids[:self.settings.max_tokens]))
      else:
        todo[:0] = text_lib.split_in_two(piece)
    return result

  @property
  def max_piece_chars(self) -> int:
    """Characters per piece of a long text: with blanks, about two tokens
    per character (phonemes are fewer than letters), within max_tokens."""
    return max(16, (self.settings.max_tokens - 1) // 2 - 4)

  def _prior_fn(self, trained):
    """jitted (params, tokens [B, N], num_tokens [B]) -> aligned_prior with
    room for 20 frames per token (the caller trims to the longest piece)."""
    def prior(params, tokens, num_tokens):
      num_frames = _round_up(tokens.shape[1] * 20, FRAME_BUCKET)
      return self.aligned_prior(trained.exp.network(params), tokens, num_tokens, num_frames)
    return self._jitted_for('prior', trained, prior)

  def _jitted_for(self, name: str, trained, fn):
    """jax.jit(fn), made once per (name, trained model) and kept on the task."""
    cache = self.__dict__.setdefault('_jitted', {})
    if (name, id(trained)) not in cache:
      cache[name, id(trained)] = jax.jit(fn)
    return cache[name, id(trained)]


def file_stem(index: int, sentence: str, words: int = 5) -> str:
  """'<index>_<first words>' as a safe file name, e.g. '000_the_quick_brown',
  from the words spoken (markup removed); accents are folded ('café' -> 'cafe'), other scripts kept ('000_привет_мир')."""
  folded = ''.join(c for c in unicodedata.normalize('NFKD', strip_markup(sentence).lower())
                   if not unicodedata.combining(c))
  slug = '_'.join(re.findall(r'[^\W_]+', folded)[:words]) or 'utterance'
  return f'{index:03d}_{slug[:48]}'
