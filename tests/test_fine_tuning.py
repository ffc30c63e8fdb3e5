"""Fine-tuning end to end on a tiny model: a run warm-started from another
beats both that model and the same steps from scratch on the new data."""

import numpy as np
import soundfile as sf

from experiments.configs import tiny

from audiodiff.run import inference, train


def _config(data_dir, **train_settings):
  config = tiny.get_config()
  config.generate.class_conditional = False
  config.sampler.guidance_scale = 1.0
  config.data.data_dir = str(data_dir)
  config.train.update(dict(learning_rate=3e-3, warmup_steps=0, sample_every=1000,
                           eval_batches=4, checkpoint_every=1000), **train_settings)
  return config


def test_fine_tuned_beats_the_source_and_scratch_on_new_data(tmp_path):
  folder = tmp_path / 'tones'
  rng = np.random.default_rng(0)
  for i in range(24):  # new data: decaying tones in noise, unlike the notes
    t = np.arange(2048) / 8000
    tone = np.exp(-3 * t) * np.sin(2 * np.pi * rng.uniform(200, 800) * t)
    sf.write(_mkdir(folder) / f"t{i:02d}.wav",
             0.5 * tone + 0.02 * rng.standard_normal(len(t)), 8000)
  source = str(tmp_path / 'source')
  train.train_and_evaluate(_config(tmp_path / 'tfds', num_steps=60), source)

  def on_tones(**settings):
    config = _config(tmp_path / 'tfds', num_steps=20, **settings)
    config.data.name, config.data.folder = 'audio_folder', str(folder)
    return config

  tuned, scratch = str(tmp_path / 'tuned'), str(tmp_path / 'scratch')
  train.train_and_evaluate(on_tones(init_from=source, learning_rate=1e-3), tuned)
  train.train_and_evaluate(on_tones(learning_rate=1e-3), scratch)
  loss = {name: inference.evaluate(on_tones(), workdir)['eval_loss']
          for name, workdir in (('source', source), ('tuned', tuned), ('scratch', scratch))}
  assert loss['tuned'] < loss['source'] and loss['tuned'] < loss['scratch'], loss


def _mkdir(path):
  path.mkdir(parents=True, exist_ok=True)
  return path
