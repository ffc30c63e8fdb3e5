"""Long recordings a block at a time: the block functions equal the whole-array
ones, enhancement holds a bounded stretch of any recording, and restoration
goes a span at a time with the measurement kept."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audiodiff import tasks
from audiodiff.audio import audio_io, streams, windows
from audiodiff.errors import UserError
from audiodiff.restoration import restore, spans
from audiodiff.run import api
from experiments.configs import enhance_tiny
from test_enhance import _IdentityEnhancer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blocks(x, size):
  return [x[i:i + size] for i in range(0, len(x), size)]


@pytest.mark.parametrize('orig,target', [(44100, 16000), (16000, 44100), (22050, 16000),
                                         (8000, 16000), (16000, 16000)])
@pytest.mark.parametrize('size', [333, 1 << 16])
def test_resampling_in_blocks_equals_resampling_the_whole(orig, target, size):
  x = 0.1 * np.random.default_rng(0).standard_normal(150001).astype(np.float32)
  whole = audio_io.resample(x, orig, target)
  pieces = np.concatenate(list(streams.resample_blocks(iter(_blocks(x, size)), orig, target)))
  assert pieces.shape == whole.shape
  np.testing.assert_allclose(pieces, whole, atol=1e-6)


def test_a_file_source_reads_what_load_audio_reads(tmp_path):
  rng = np.random.default_rng(1)
  stereo = 0.2 * rng.standard_normal((100003, 2)).astype(np.float32)
  stereo[50] = 1.6   # a float file peaking above full scale
  path = str(tmp_path / 'x.wav')
  sf.write(path, stereo, 44100, subtype='FLOAT')
  source = streams.FileSource.scan(path, 16000)
  mono = stereo.mean(axis=1)
  assert (source.channels, source.file_length, source.file_rate) == (2, 100003, 44100)
  np.testing.assert_allclose(source.peak, np.max(np.abs(mono)), rtol=1e-6)
  assert source.peak > 1
  expected = audio_io.resample(mono / source.peak, 44100, 16000)
  got = np.concatenate(list(source.blocks()))
  assert source.length == len(expected) == len(got)
  np.testing.assert_allclose(got, expected, atol=1e-6)
  np.testing.assert_allclose(source.rms(), audio_io.rms(expected), rtol=1e-6)


def test_a_file_source_refuses_what_read_audio_refuses(tmp_path):
  bad = np.zeros(1000, np.float32)
  bad[700] = np.nan
  sf.write(tmp_path / 'nan.wav', bad, 16000, subtype='FLOAT')
  with pytest.raises(audio_io.AudioFileError, match='NaN or inf'):
    streams.FileSource.scan(tmp_path / 'nan.wav', 16000)
  with pytest.raises(audio_io.AudioFileError, match='does not exist'):
    streams.FileSource.scan(tmp_path / 'missing.wav', 16000)
  (tmp_path / 'garbage.wav').write_bytes(b'RIFF' + bytes(40))
  with pytest.raises(audio_io.AudioFileError, match='could not be decoded'):
    streams.FileSource.scan(tmp_path / 'garbage.wav', 16000)


@pytest.mark.parametrize('file_rate', [16000, 22050])
def test_writing_in_blocks_equals_writing_the_whole(tmp_path, file_rate):
  audio = np.clip(0.2 * np.random.default_rng(2).standard_normal(70001), -0.8, 0.8)
  audio = audio.astype(np.float32)
  length = len(audio) * file_rate // 16000 + 5   # a few samples of silence padded
  whole = audio_io.resample(audio, 16000, file_rate)[:length]
  audio_io.save_audio(tmp_path / 'whole.wav', np.pad(whole, (0, length - len(whole))),
                      file_rate)
  kept = []
  streams.write_blocks(tmp_path / 'blocks.wav', _blocks(audio, 4097), rate=16000,
                       file_rate=file_rate, length=length, keep=kept.append)
  a, rate_a = sf.read(tmp_path / 'whole.wav', dtype='int16')
  b, rate_b = sf.read(tmp_path / 'blocks.wav', dtype='int16')
  assert rate_a == rate_b == file_rate and len(a) == len(b) == length
  assert np.max(np.abs(a.astype(int) - b.astype(int))) <= 1   # float rounding
  assert sf.info(tmp_path / 'blocks.wav').subtype == 'PCM_16'
  np.testing.assert_array_equal(np.concatenate(kept), audio)


def test_output_above_full_scale_is_written_as_float_not_clipped(tmp_path):
  audio = 0.3 * np.random.default_rng(4).standard_normal(70001).astype(np.float32)
  audio[3000:3010] = 1.4   # a restored peak of a declipped file
  peak = streams.write_blocks(tmp_path / 'out.wav', _blocks(audio, 4097), rate=16000,
                              file_rate=16000, length=len(audio))
  assert peak == pytest.approx(1.4)
  assert sf.info(tmp_path / 'out.wav').subtype == 'FLOAT'
  written, _ = sf.read(tmp_path / 'out.wav', dtype='float32')
  np.testing.assert_array_equal(written, audio)


@pytest.mark.parametrize('bad,message', [(np.nan, 'NaN or inf'), (1.0, 'clipped at full scale')])
def test_a_broken_output_leaves_nothing_written(tmp_path, bad, message):
  blocks = [np.zeros(5000, np.float32) + 0.1, np.full(500000, bad, np.float32)]
  with pytest.raises(UserError, match=message):
    streams.write_blocks(tmp_path / 'out.wav', blocks, rate=16000, file_rate=16000,
                         length=505000)
  assert not list(tmp_path.iterdir())


def test_a_running_overlap_add_equals_the_whole_one():
  rng = np.random.default_rng(3)
  starts, size = [0, 70, 140, 200], 100
  pieces = [rng.standard_normal(size).astype(np.float32) for _ in starts]
  taper = windows.linear_taper(size, 20)
  whole, running = windows.OverlapAdd(300), windows.RunningOverlapAdd()
  taken = []
  for i, (start, piece) in enumerate(zip(starts, pieces)):
    whole.add(start, piece, taper)
    running.add(start, piece, taper)
    taken.append(running.take(starts[i + 1] if i + 1 < len(starts) else 300))
  np.testing.assert_array_equal(np.concatenate(taken), whole.result())
  with pytest.raises(ValueError, match='already taken'):
    running.add(250, pieces[0], taper)


class _Linear(_IdentityEnhancer):
  """Stands in for a trained enhancer: each window comes back scaled and
  tapered along its length (linear, so its result is known)."""

  def run(self, request, rng, first=0):
    x = super().run(request, rng, first)
    return 2.0 * x * (1.0 + 0.3 * np.sin(np.arange(x.shape[-1]) / 7.0))


def _whole_reference(task, audio, delays):
  """The enhancement of _Linear computed on the whole recording at once:
  each delayed, mirror-padded copy cut into windows, joined, realigned and
  averaged."""
  settings, hop = task.settings, task.stft.hop_length
  window = settings.window_frames * hop
  gain = settings.input_rms / audio_io.rms(audio)
  total = 0.0
  for delay in delays:
    delayed = np.pad(audio * gain, (delay, 0), mode='symmetric')
    frames = max(-(-len(delayed) // hop), settings.window_frames)
    padded = np.pad(delayed, (0, frames * hop - len(delayed)), mode='symmetric')
    starts = [s * hop for s in windows.window_starts(frames, settings.window_frames,
                                                     settings.overlap_frames)]
    shape = 1.0 + 0.3 * np.sin(np.arange(window) / 7.0)
    pieces = [2.0 * padded[s:s + window] * shape for s in starts]
    joined = windows.cross_fade(pieces, starts, len(padded), settings.overlap_frames * hop)
    total = total + joined[delay:delay + len(audio)] / gain
  return total / len(delays)


@pytest.mark.parametrize('shifts', [1, 3])
def test_windowed_enhancement_equals_the_whole_recording_at_once(shifts):
  config = enhance_tiny.get_config()
  config.enhance.method = 'predictive'
  config.enhance.update(dict(window_frames=16, overlap_frames=4, batch_windows=3,
                             shifts=shifts))
  task = tasks.get_task(config)
  hop = task.stft.hop_length
  rng = np.random.default_rng(4)
  audios = [0.1 * rng.standard_normal(n).astype(np.float32)
            for n in (3 * hop, 16 * hop + 5, 17 * hop + 3, 90 * hop + 77, 200)]
  delays = [k * hop // shifts for k in range(shifts)]
  for audio, out in zip(audios, task.enhance_many(_Linear(task), audios)):
    assert out.shape == audio.shape
    np.testing.assert_allclose(out, _whole_reference(task, audio, delays), atol=1e-6)


class _CountingSource:
  """A long recording made block by block; counts what was read."""

  def __init__(self, length, block):
    self.length, self.block, self.read = length, block, 0

  def rms(self):
    return 0.1

  def blocks(self):
    rng = np.random.default_rng(5)
    for start in range(0, self.length, self.block):
      piece = 0.1 * rng.standard_normal(min(self.block, self.length - start))
      self.read += len(piece)
      yield piece.astype(np.float32)


def test_enhancement_reads_only_a_few_windows_ahead_of_what_it_yields():
  config = enhance_tiny.get_config()
  config.enhance.method = 'predictive'
  config.enhance.update(dict(window_frames=16, overlap_frames=4, batch_windows=4, shifts=2))
  task = tasks.get_task(config)
  window = 16 * task.stft.hop_length
  source = _CountingSource(300 * window + 11, block=window // 3)
  yielded, ahead = 0, 0
  for index, block in task.enhance_blocks(_Linear(task), [source]):
    assert index == 0 and np.all(np.isfinite(block))
    yielded += len(block)
    ahead = max(ahead, source.read - yielded)
  assert yielded == source.length
  # One batch of 4 windows (2 delays each) and a block: never the recording.
  assert ahead <= 4 * window


def test_a_span_plan_covers_the_recording_and_keeps_gaps_out_of_its_overlaps():
  busy = [(150, 170), (530, 610), (905, 915)]
  plan = spans.plan(1200, 200, 40, 8, busy)
  assert plan[0][0] == 0 and plan[-1][1] == 1200
  for (start, end), (next_start, _) in zip(plan, plan[1:]):
    assert next_start == end - 40 and start % 8 == 0 and end % 8 == 0
    assert not any(a < end and b > end - 40 for a, b in busy)   # overlaps are gap-free
  assert spans.plan(250, 200, 40, 8) == [(0, 250)]   # up to 1.5 spans: one


def _main(*args):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'experiments', 'main.py'),
                         *args], capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.fixture(scope='module')
def tiny_prior(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('prior'))
  config = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  assert _main(f'--config={config}', f'--workdir={workdir}').returncode == 0
  return config, workdir


def _speech_like(seconds, rate):
  t = np.arange(int(seconds * rate)) / rate
  envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t)
  return (0.3 * envelope * np.sin(2 * np.pi * 300 * t + 3 * np.sin(2 * np.pi * 2 * t))
          ).astype(np.float32)


def test_a_long_file_is_inpainted_span_by_span(tmp_path, tiny_prior):
  config, workdir = tiny_prior
  clean = _speech_like(13.0, 16000)   # another rate than the 8 kHz prior
  # 3.90-3.92 s lies where the first 4 s span would overlap the next.
  gaps = [(1.0, 1.02), (3.9, 3.92), (7.5, 7.52), (12.0, 12.03)]
  gappy = clean.copy()
  for a, b in gaps:
    gappy[int(a * 16000):int(b * 16000)] = 0.0
  audio_io.save_audio(tmp_path / 'long.wav', gappy, 16000)
  result = _main(f'--config={config}', f'--workdir={workdir}', '--mode=restore',
                 f'--input={tmp_path / "long.wav"}', f'--output={tmp_path / "out"}',
                 '--config.restore.span_seconds=4', '--config.restore.method=projection',
                 '--config.restore.gaps=' + ','.join(f'{a}-{b}' for a, b in gaps))
  assert result.returncode == 0, result.stderr
  assert 'spans of long.wav' in result.stdout + result.stderr
  restored, rate = audio_io.read_audio(tmp_path / 'out' / 'long.wav')
  assert rate == 16000 and restored.shape == (len(clean), 1)
  t = np.arange(len(clean)) / 16000
  near = np.zeros(len(clean), bool)
  for a, b in gaps:
    near |= (t > a - 0.005) & (t < b + 0.005)
  # Only the gaps change: every other sample is the input's (16-bit rounding).
  np.testing.assert_allclose(restored[~near, 0], gappy[~near], atol=2e-4)
  for a, b in gaps:
    inside = (t >= a) & (t < b)
    assert np.max(np.abs(restored[inside, 0])) > 1e-3, (a, b)   # filled


def test_a_long_file_is_declipped_span_by_span(tmp_path, tiny_prior):
  config, workdir = tiny_prior
  clean = _speech_like(10.0, 8000)
  clipped = np.clip(clean, -0.2, 0.2)
  audio_io.save_audio(tmp_path / 'clipped.wav', clipped, 8000)
  result = _main(f'--config={config}', f'--workdir={workdir}', '--mode=restore',
                 f'--input={tmp_path / "clipped.wav"}', f'--output={tmp_path / "declip"}',
                 '--config.restore.span_seconds=4', '--config.restore.task=declip',
                 '--config.restore.method=projection')
  assert result.returncode == 0, result.stderr
  restored, _ = audio_io.read_audio(tmp_path / 'declip' / 'clipped.wav')
  free = np.abs(clipped) < 0.199
  np.testing.assert_allclose(restored[free, 0], clipped[free], atol=2e-4)
  # The clipped samples keep their side of the level (the measurement's set).
  assert np.all(np.abs(restored[~free, 0]) >= 0.199)


def test_declipping_near_full_scale_keeps_the_peaks_above_it(tmp_path, tiny_prior):
  config, workdir = tiny_prior
  clean = _speech_like(2.0, 8000)
  clipped = np.clip(clean / np.max(np.abs(clean)) * 1.5, -0.95, 0.95)
  audio_io.save_audio(tmp_path / 'loud.wav', clipped, 8000)
  result = _main(f'--config={config}', f'--workdir={workdir}', '--mode=restore',
                 f'--input={tmp_path / "loud.wav"}', f'--output={tmp_path / "declip"}',
                 '--config.restore.task=declip', '--config.restore.method=projection')
  assert result.returncode == 0, result.stderr
  wav = tmp_path / 'declip' / 'loud.wav'
  restored, _ = sf.read(wav, dtype='float32')
  assert np.max(np.abs(restored)) > 1.0   # kept, where 16 bits would clip them
  assert sf.info(wav).subtype == 'FLOAT'
  assert 'above full scale' in result.stdout and '32-bit float' in result.stdout



def test_a_long_file_is_band_extended_span_by_span(tmp_path, tiny_prior):
  config, workdir = tiny_prior
  del config
  trained = api.load(workdir)
  settings = trained.config.restore
  settings.unlock()
  settings.update(dict(task='bandwidth', cutoff_hz=1500.0, method='projection',
                       span_seconds=4.0))
  low = restore.degrade('bandwidth', _speech_like(10.0, 8000), 8000, cutoff_hz=1500)
  audio_io.save_audio(tmp_path / 'low.wav', low, 8000)
  source = streams.FileSource.scan(tmp_path / 'low.wav', 8000)
  low = np.concatenate(list(source.blocks()))   # as written (16 bits)
  restorer = restore.Restorer(trained, settings)
  out = np.concatenate(list(spans.restored_blocks(restorer, source, settings, level=0.0,
                                                  out_rate=8000)))
  assert out.shape == low.shape
  band = restore.degrade('bandwidth', out, 8000, cutoff_hz=1500)
  added = np.sqrt(np.mean((out - band) ** 2))
  assert added > np.sqrt(np.mean(low ** 2))   # an untrained prior adds a loud band
  # Each span keeps the measured band exactly on its own (circular) band
  # limit; against the whole file's, what leaks across the cutoff at the
  # spans' joins is a small part of what was added.
  assert np.sqrt(np.mean((band - low) ** 2)) < 0.01 * added


def test_a_gap_longer_than_the_method_fills_is_refused_before_any_work(tmp_path, tiny_prior):
  config, workdir = tiny_prior
  audio_io.save_audio(tmp_path / 'x.wav', _speech_like(2.0, 8000), 8000)
  for method, message in (('baseline', "Janssen's method"), ('projection', 'half the prior')):
    result = _main(f'--config={config}', f'--workdir={workdir}', '--mode=restore',
                   f'--input={tmp_path / "x.wav"}', f'--output={tmp_path / method}',
                   '--config.restore.gaps=0.2-0.6', f'--config.restore.method={method}')
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / method / 'x.wav')
