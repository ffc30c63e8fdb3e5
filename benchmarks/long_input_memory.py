"""Peak memory of the inference modes on long files: it must not grow with length.

    python benchmarks/long_input_memory.py [--seconds=60,300,1800]
        [--modes=enhance] [--rates=16000,44100] [--repo=DIR]

Writes a pulsed 200 Hz tone in white noise of each length (at each file
rate), runs `python experiments/main.py --mode=M --input=FILE --output=DIR`
on the shipped model of each mode under `/usr/bin/time -v` (start-up,
compilation, the wav and the picture included) and prints the peak resident
memory and wall time per file. --repo runs another checkout (e.g. a
`git worktree` of an older commit) for a before/after in one run.
"""

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
from absl import flags

from audiodiff.errors import UserError, run_script

_SECONDS = flags.DEFINE_list('seconds', ['60', '300', '1800'], 'File lengths in seconds.')
_MODES = flags.DEFINE_list('modes', ['enhance'], 'Inference modes to measure.')
_RATES = flags.DEFINE_list('rates', ['16000'], 'Sample rates of the files written.')
_REPO = flags.DEFINE_string('repo', os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'The checkout whose experiments/main.py runs.')

flags.register_validator('seconds', lambda v: all(_positive(s) for s in v),
                         '--seconds takes file lengths in seconds > 0, e.g. 60,300.')
flags.register_validator('rates', lambda v: all(s.isdigit() and 8000 <= int(s) <= 192000
                                                for s in v),
                         '--rates takes sample rates in Hz from 8000 to 192000, e.g. 16000.')
flags.register_validator('repo', lambda v: os.path.exists(os.path.join(v, 'experiments',
                                                                       'main.py')),
                         '--repo must be a checkout of this project (with experiments/main.py).')


def _positive(text):
  try:
    return 0 < float(text) < float('inf')
  except ValueError:
    return False


# The shipped model and the extra flags of each mode.
_COMMANDS = {
    'enhance': ['--workdir=pretrained/enhance_cpu', '--mode=enhance'],
    'restore': ['--workdir=pretrained/speech_prior_cpu', '--mode=restore',
                '--config.restore.task=bandwidth', '--config.restore.cutoff_hz=4000'],
}


def _test_file(path, seconds, rate):
  """A pulsed 200 Hz tone in white noise, written a minute at a time."""
  rng = np.random.default_rng(0)
  with sf.SoundFile(path, 'w', samplerate=rate, channels=1, subtype='PCM_16') as f:
    for start in range(0, int(seconds * rate), 60 * rate):
      t = np.arange(start, min(int(seconds * rate), start + 60 * rate)) / rate
      tone = 0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
      f.write((tone + 0.05 * rng.standard_normal(len(t))).astype(np.float32))


def _measure(mode, path, output):
  command = ['/usr/bin/time', '-v', sys.executable, 'experiments/main.py',
             *_COMMANDS[mode], f'--input={path}', f'--output={output}']
  env = dict(os.environ, PYTHONPATH=_REPO.value)   # that checkout's audiodiff
  result = subprocess.run(command, cwd=_REPO.value, capture_output=True, text=True,
                          check=False, env=env)
  if result.returncode:
    raise RuntimeError(f'{" ".join(command)} failed:\n{result.stderr[-2000:]}')
  peak_kb = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', result.stderr)[1])
  wall = re.search(r'Elapsed \(wall clock\) time .*: (\S+)', result.stderr)[1]
  return peak_kb / 1024, wall


def main(argv):
  del argv
  unknown = [m for m in _MODES.value if m not in _COMMANDS]
  if unknown:
    raise UserError(f'--modes: {", ".join(unknown)} unknown; give some of '
                    f'{", ".join(_COMMANDS)}.')
  print(f'checkout: {_REPO.value}')
  print('| mode | file | peak RSS | wall |')
  print('| --- | --- | --- | --- |')
  with tempfile.TemporaryDirectory() as tmp:
    for rate in (int(r) for r in _RATES.value):
      for seconds in (float(s) for s in _SECONDS.value):
        path = os.path.join(tmp, f'long_{seconds:g}s_{rate}.wav')
        _test_file(path, seconds, rate)
        for mode in _MODES.value:
          peak, wall = _measure(mode, path, os.path.join(tmp, f'{mode}_{seconds:g}_{rate}'))
          print(f'| {mode} | {seconds:g} s at {rate} Hz | {peak:,.0f} MB | {wall} |', flush=True)
        os.remove(path)


if __name__ == '__main__':
  run_script(main)
