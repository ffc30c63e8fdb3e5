"""A small audio classifier trained here, the feature extractor of the
generative metrics (generative_metrics.py) where no pretrained model may be
downloaded (as DiffWave evaluated SC09 with its own classifier).

Input: a clip [L] -> per frame its log-mel (config.audio) and its chroma
(12 pitch classes of a 2048-point STFT), [frames, n_mels + 12]. Network:
three 1D convs over frames with pooling, mean and max over time, a dense
embedding [embedding_dim] (what Fréchet distance and KID compare) and one
softmax head per label (e.g. 'label': the lead family, 'key': the tonic).

    classifier = train_classifier(clips, {'label': y, 'key': k}, audio_config)
    out = classifier(clips)   # {'embedding': [N, D], 'label': [N, 4] probs, ...}
    classifier.save(directory); classifier = Classifier.load(directory)
"""

import dataclasses
import functools
import json
import os
from typing import Dict, List

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from audiodiff.audio import spectral

CHROMA_FFT = 2048
PARAMS_FILE = 'classifier.msgpack'
INFO_FILE = 'classifier.json'


def chroma_filterbank(sample_rate: int, n_fft: int = CHROMA_FFT, f_min: float = 55.0,
                      f_max: float = 4200.0) -> np.ndarray:
  """[n_fft // 2 + 1, 12]: each bin in [f_min, f_max] to its nearest pitch class (C = 0)."""
  freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
  bank = np.zeros((len(freqs), 12), np.float32)
  valid = (freqs >= f_min) & (freqs <= min(f_max, sample_rate / 2))
  pitch = np.round(12 * np.log2(freqs[valid] / 440.0) + 69).astype(int) % 12
  bank[np.nonzero(valid)[0], pitch] = 1.0
  return bank


def clip_features(audio, audio_config):
  """audio [N, L] -> [N, frames, n_mels + 12]: log-mel and log chroma per frame."""
  audio = jnp.asarray(audio, jnp.float32)
  log_mel = spectral.log_mel(audio, audio_config)
  hop = audio_config.hop_length
  power = jnp.abs(spectral.stft(audio, CHROMA_FFT, hop)) ** 2
  chroma = power @ chroma_filterbank(audio_config.sample_rate)
  chroma = jnp.log(chroma + 1e-6)
  chroma = chroma - jnp.max(chroma, axis=-1, keepdims=True)  # level-free profile
  frames = min(log_mel.shape[1], chroma.shape[1])
  return jnp.concatenate([log_mel[:, :frames], chroma[:, :frames] / 10.0], axis=-1)


class ClassifierNet(nn.Module):
  """features [N, frames, F] -> {'embedding': [N, D], head: logits [N, classes]}."""
  heads: Dict[str, int]
  channels: int = 64
  embedding_dim: int = 128

  @nn.compact
  def __call__(self, x, train=False):
    x = (x - jnp.mean(x, axis=1, keepdims=True))
    for width in (self.channels, 2 * self.channels, 2 * self.channels):
      x = nn.relu(nn.LayerNorm()(nn.Conv(width, (5,))(x)))
      x = nn.max_pool(x, (2,), (2,))
    pooled = jnp.concatenate([jnp.mean(x, axis=1), jnp.max(x, axis=1)], axis=-1)
    embedding = nn.Dense(self.embedding_dim)(nn.Dropout(0.2, deterministic=not train)(pooled))
    outputs = {'embedding': embedding}
    hidden = nn.relu(embedding)
    for name, classes in sorted(self.heads.items()):
      outputs[name] = nn.Dense(classes, name=f'head_{name}')(hidden)
    return outputs


@dataclasses.dataclass
class Classifier:
  """A trained ClassifierNet and the audio settings of its features."""
  net: ClassifierNet
  params: dict
  audio_config: dict
  seed: int = 0        # of its initialisation, batches and dropout

  @functools.cached_property
  def _apply(self):
    """Jitted (params, audio [B, L]) -> the network's outputs, compiled once per shape."""
    config = spectral.mel_from_config(self.audio_config)
    return jax.jit(lambda p, a: self.net.apply({'params': p}, clip_features(a, config)))

  def __call__(self, audio, batch_size: int = 32):
    """audio [N, L] -> {'embedding': [N, D], head: probabilities [N, classes]}."""
    outputs = []
    for start in range(0, len(audio), batch_size):
      batch = jnp.asarray(audio[start:start + batch_size])
      outputs.append(jax.device_get(self._apply(self.params, batch)))
    merged = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    return {k: (v if k == 'embedding' else np.asarray(jax.nn.softmax(v, axis=-1)))
            for k, v in merged.items()}

  def save(self, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, PARAMS_FILE), 'wb') as f:
      f.write(flax.serialization.to_bytes(self.params))
    with open(os.path.join(directory, INFO_FILE), 'w') as f:
      json.dump({'heads': dict(self.net.heads), 'channels': self.net.channels,
                 'embedding_dim': self.net.embedding_dim, 'audio': self.audio_config,
                 'seed': self.seed}, f)

  @classmethod
  def load(cls, directory: str) -> 'Classifier':
    with open(os.path.join(directory, INFO_FILE)) as f:
      info = json.load(f)
    net = ClassifierNet(heads=info['heads'], channels=info['channels'],
                        embedding_dim=info['embedding_dim'])
    template = _init(net, info['audio'])
    with open(os.path.join(directory, PARAMS_FILE), 'rb') as f:
      params = flax.serialization.from_bytes(template, f.read())
    return cls(net, params, info['audio'], info.get('seed', 0))


@dataclasses.dataclass
class Ensemble:
  """Several Classifiers read as one: each head's probabilities averaged over
  them, and 'embedding' [K, N, D], one set per member (the space of one
  classifier's embeddings is not another's)."""
  members: List[Classifier]

  def __call__(self, audio, batch_size: int = 32):
    outputs = [member(audio, batch_size) for member in self.members]
    merged = {k: np.mean([o[k] for o in outputs], axis=0) for k in outputs[0] if k != 'embedding'}
    merged['embedding'] = np.stack([o['embedding'] for o in outputs])
    return merged


def audio_settings(audio_config) -> dict:
  """config.audio's mel fields, as a plain dict (saved with the classifier)."""
  return dataclasses.asdict(spectral.mel_from_config(audio_config))


def _init(net, settings, seed=0):
  config = spectral.mel_from_config(settings)
  features = clip_features(jnp.zeros((1, 32 * settings['hop_length'])), config)
  return net.init(jax.random.PRNGKey(seed), features)['params']


def train_classifier(audio, labels: Dict[str, np.ndarray], audio_config, *, steps: int = 600,
                     batch_size: int = 32, learning_rate: float = 2e-3, seed: int = 0,
                     log=print) -> Classifier:
  """Trains on clips audio [N, L] with integer labels {head: [N]} (classes =
  max + 1 per head); random gains and circular shifts augment each batch."""
  settings = audio_settings(audio_config)
  config = spectral.mel_from_config(settings)
  heads = {name: int(np.max(y)) + 1 for name, y in labels.items()}
  net = ClassifierNet(heads=heads)
  params = _init(net, settings, seed)
  optimizer = optax.adamw(learning_rate, weight_decay=1e-4)
  opt_state = optimizer.init(params)
  labels = {k: jnp.asarray(v, jnp.int32) for k, v in labels.items()}
  audio = np.asarray(audio, np.float32)

  def loss_fn(p, clips, ys, key):
    features = clip_features(clips, config)
    out = net.apply({'params': p}, features, train=True, rngs={'dropout': key})
    return sum(optax.softmax_cross_entropy_with_integer_labels(out[k], ys[k]).mean()
               for k in ys)

  @jax.jit
  def step(p, s, clips, ys, key):
    loss, grads = jax.value_and_grad(loss_fn)(p, clips, ys, key)
    updates, s = optimizer.update(grads, s, p)
    return optax.apply_updates(p, updates), s, loss

  rng = np.random.default_rng(seed)
  key = jax.random.PRNGKey(seed)
  for i in range(steps):
    index = rng.integers(0, len(audio), batch_size)
    clips = audio[index] * rng.uniform(0.3, 1.5, (batch_size, 1)).astype(np.float32)
    clips = np.stack([np.roll(c, int(rng.integers(len(c)))) for c in clips])
    params, opt_state, loss = step(params, opt_state, jnp.asarray(clips),
                                   {k: v[index] for k, v in labels.items()},
                                   jax.random.fold_in(key, i))
    if log and (i + 1) % 100 == 0:
      log(f'classifier step {i + 1}/{steps}: loss {float(loss):.3f}')
  return Classifier(net, params, settings, seed)
