"""Inference progress lines: throttled, with an ETA, the last always shown."""

from audiodiff.run import console


def test_progress_is_throttled_and_estimates_the_rest(monkeypatch, capsys):
  clock = [100.0]
  monkeypatch.setattr(console.time, 'time', lambda: clock[0])
  progress = console.Progress(10, 'files', every=2.0)
  for name in range(10):
    clock[0] += 1.0  # one second a file
    progress.done(f'f{name}.wav')
  lines = capsys.readouterr().out.splitlines()
  # Every second file (2 s apart), and the last.
  assert lines[0] == '[2/10 files] f1.wav  2 s, ETA 0:08'
  assert len(lines) == 5 and lines[-1] == '[10/10 files] f9.wav  10 s, ETA 0:00'


def test_a_batch_counts_all_its_items(monkeypatch, capsys):
  clock = [0.0]
  monkeypatch.setattr(console.time, 'time', lambda: clock[0])
  progress = console.Progress(100, 'samples')
  clock[0] = 30.0
  progress.done('sample_031', count=32)
  assert capsys.readouterr().out.strip() == '[32/100 samples] sample_031  30 s, ETA 1:04'


def test_a_long_restore_reports_its_windows_and_a_short_one_stays_quiet(capsys):
  from audiodiff.run import inference  # pylint: disable=g-import-not-at-top
  short = inference._window_progress('/in/short.wav')  # pylint: disable=protected-access
  short(4, 4)
  assert capsys.readouterr().out == ''
  long = inference._window_progress('/in/long.wav')  # pylint: disable=protected-access
  for _ in range(3):
    long(4, 12)
  assert capsys.readouterr().out.splitlines()[-1].startswith('[12/12 windows of long.wav]')
