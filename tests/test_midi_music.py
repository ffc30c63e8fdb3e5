"""The offline MIDI music corpus: composition, rendering and determinism."""

import shutil

import numpy as np
import pytest

from audiodiff.data import midi_music


def test_compose_is_a_function_of_the_seed_and_labels_are_in_range():
  scores = [midi_music.compose(midi_music.clip_rng(0, 'train', i), 2.0) for i in range(40)]
  again = [midi_music.compose(midi_music.clip_rng(0, 'train', i), 2.0) for i in range(40)]
  assert scores == again
  other = midi_music.compose(midi_music.clip_rng(1, 'train', 0), 2.0)
  assert other != scores[0]
  assert {s.family for s in scores} == set(range(len(midi_music.FAMILIES)))
  for score in scores:
    assert 0 <= score.key < 12
    assert midi_music.TEMPO_RANGE[0] <= score.tempo <= midi_music.TEMPO_RANGE[1]
    assert score.programs[0] in midi_music.PROGRAMS[midi_music.FAMILIES[score.family]]
    assert all(0 <= n.start < n.end <= 2.0 - 0.05 + 1e-9 for n in score.notes)
    # Every melodic note belongs to the clip's major key.
    scale = {(score.key + step) % 12 for step in midi_music.MAJOR_SCALE}
    assert all(n.pitch % 12 in scale for n in score.notes if n.channel != 9)


@pytest.mark.usefixtures('fluidsynth')
def test_corpus_is_deterministic_by_seed(tmp_path):
  first = midi_music.prepare(tmp_path / 'a', sample_rate=16000, seconds=1.0, num_train=6,
                             num_test=2, seed=3)
  second = midi_music.prepare(tmp_path / 'b', sample_rate=16000, seconds=1.0, num_train=6,
                              num_test=2, seed=3)
  other = midi_music.prepare(tmp_path / 'c', sample_rate=16000, seconds=1.0, num_train=6,
                             num_test=2, seed=4)
  read = lambda corpus: {e['id']: e for e in (corpus.as_data_source('train')[i]
                                              for i in range(6))}
  a, b, c = read(first), read(second), read(other)
  assert sorted(a) == sorted(b)
  for key in a:
    np.testing.assert_array_equal(a[key]['audio'], b[key]['audio'])
    assert a[key]['label'] == b[key]['label'] and a[key]['key'] == b[key]['key']
    assert a[key]['audio'].shape == (16000,)
    assert np.sqrt(np.mean(a[key]['audio'] ** 2)) > 1e-3  # music, not silence
  assert any(not np.array_equal(a[k]['audio'], c[k]['audio']) for k in a)


def test_missing_fluidsynth_or_soundfont_names_the_fix(monkeypatch, tmp_path):
  monkeypatch.setattr(shutil, 'which', lambda name: None)
  with pytest.raises(midi_music.MusicRenderError, match='apt-get install fluidsynth'):
    midi_music.find_fluidsynth()
  with pytest.raises(midi_music.MusicRenderError, match='does not exist'):
    midi_music.find_soundfont(str(tmp_path / 'missing.sf2'))
