"""The PyTorch DiffWave reference (lmnt-com/diffwave) in a child process
(benchmarks/diffwave_reference.py), timed on request: what diffwave_speed.py
and vocoder_quality.py compare against in the same run.

    reference = Reference(CHECKOUT, PYTHON_WITH_TORCH, config, batch_size, frames)
    run = reference.runner(op='infer', batch=1, frames=frames); seconds = run()
"""

import json
import os
import shutil
import subprocess
import tempfile


class Reference:
  """The PyTorch reference in a child process (benchmarks/diffwave_reference.py)."""

  def __init__(self, src, python, config, batch_size, frames):
    if not shutil.which(python):
      raise SystemExit(f'--reference_python={python} is not an executable: pass the python '
                       'of an environment with torch (e.g. --reference_python=venv/bin/python)')
    self._log = tempfile.NamedTemporaryFile('w+', suffix='.log', prefix='diffwave_reference_')
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'diffwave_reference.py')
    self._process = subprocess.Popen(
        [python, script, f'--src={src}', f'--batch_size={batch_size}', f'--frames={frames}',
         f'--residual_layers={config.model.diffwave.residual_layers}',
         f'--residual_channels={config.model.diffwave.residual_channels}'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
    self.info = self._answer()

  def _answer(self):
    line = self._process.stdout.readline()
    if not line:
      self._log.seek(0)
      lines = self._log.read().strip().splitlines() or ['(no output)']
      raise SystemExit(f'the PyTorch reference stopped: {lines[-1]}')
    return json.loads(line)

  def runner(self, **request):
    def run():
      self._process.stdin.write(json.dumps(request) + '\n')
      self._process.stdin.flush()
      return self._answer()['seconds']
    return run

  def close(self):
    self._process.stdin.close()
    self._process.wait()
    self._log.close()
