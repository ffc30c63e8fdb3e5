"""benchmarks/gpu_check.sh in its CPU dry mode: every command it runs on a
lent GPU runs here at tiny sizes and prints the figures it reports."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_check_dry_mode_runs_every_step(tmp_path):
  env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path))
  result = subprocess.run(['bash', str(ROOT / 'benchmarks' / 'gpu_check.sh'), '--dry'],
                          env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  summary = (tmp_path / 'gpu_check_summary.txt').read_text()
  for line in ('matmul ceiling', 'train step', '6-step fast inference of 0.05 s (batch 1)',
               '6-step fast inference of 0.05 s (batch 2)', 'its matrix products alone',
               'steps/s'):
    assert line in summary, summary
  log = (tmp_path / 'gpu_check.log').read_text()
  assert 'FAILED' not in log and 'tests collected' in log
