"""The PyTorch reference runner of benchmarks/diffwave_speed.py: the errors a
user meets before torch or the checkout is in place (one line each)."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEED = ROOT / 'benchmarks' / 'diffwave_speed.py'


def _run(*args, python=sys.executable):
  return subprocess.run([python, *map(str, args)], capture_output=True, text=True,
                        timeout=240, cwd=ROOT)


def test_reference_names_a_wrong_checkout(tmp_path):
  result = _run(SPEED, f'--reference_src={tmp_path}', '--train_repeats=0')
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert 'not a checkout of lmnt-com/diffwave' in last and 'git clone' in last, last


@pytest.mark.skipif(importlib.util.find_spec('torch') is not None,
                    reason='this Python has torch')
def test_reference_names_a_python_without_torch(tmp_path):
  (tmp_path / 'src' / 'diffwave').mkdir(parents=True)
  (tmp_path / 'src' / 'diffwave' / 'model.py').write_text('')
  result = _run(SPEED, f'--reference_src={tmp_path}', '--train_repeats=0')
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert 'has no torch' in last and '--reference_python' in last, last


def test_reference_names_a_missing_python(tmp_path):
  result = _run(SPEED, f'--reference_src={tmp_path}', f'--reference_python={tmp_path}/python',
                '--train_repeats=0')
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert 'is not an executable' in last, last
