"""Times the PyTorch DiffWave reference (lmnt-com/diffwave) for diffwave_speed.py.

Run by `benchmarks/diffwave_speed.py --reference_src=CHECKOUT` under a Python
that has torch (`--reference_python`); audiodiff does not depend on torch, and
this file imports nothing from audiodiff. It answers one JSON line per request
read from stdin, so the two frameworks take turns on the same cores:

  {"op": "train"}                       -> {"seconds": s}  one DiffWaveLearner.train_step
  {"op": "infer", "batch": B, "frames": F} -> {"seconds": s}  inference.predict, fast_sampling

The reference's own code is timed: `DiffWaveLearner.train_step` (Adam 2e-4,
L1 on the noise) on a batch of `--batch_size` x `--frames` mel frames, and
`predict(fast_sampling=True)` (its 6-step schedule) on the CPU.
"""

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import types


def check_checkout(src):
  """The checkout's package directory, or exit naming what is missing."""
  package = os.path.join(src, 'src')
  if not os.path.isfile(os.path.join(package, 'diffwave', 'model.py')):
    raise SystemExit(f'--reference_src={src} is not a checkout of lmnt-com/diffwave '
                     '(no src/diffwave/model.py): git clone https://github.com/lmnt-com/diffwave')
  return package


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--src', required=True)
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--frames', type=int, default=62)
  parser.add_argument('--residual_layers', type=int, default=30)
  parser.add_argument('--residual_channels', type=int, default=64)
  args = parser.parse_args()
  package = check_checkout(args.src)
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise SystemExit(f'{sys.executable} has no torch: pass --reference_python=PYTHON of an '
                     'environment with torch, torchaudio, tqdm and tensorboard') from None
  sys.path.insert(0, package)
  try:
    import torchaudio  # pylint: disable=import-outside-toplevel,unused-import
  except (ImportError, OSError):
    # The checkout imports torchaudio only to read and write files, which the
    # timed code never does; a torch without a matching torchaudio wheel
    # (none is published for every torch) still times the same model.
    sys.modules['torchaudio'] = types.ModuleType('torchaudio')
  # pylint: disable=import-outside-toplevel
  from diffwave import inference, learner as learner_module, model as model_module
  from diffwave import params as params_module
  params = params_module.params  # in place: predict() builds its model from it
  params.override({'residual_layers': args.residual_layers,
                   'residual_channels': args.residual_channels})
  torch.manual_seed(0)
  device = torch.device('cpu')
  model = model_module.DiffWave(params).to(device)
  workdir = tempfile.mkdtemp(prefix='diffwave_reference_')  # predict() reads weights there
  atexit.register(shutil.rmtree, workdir, ignore_errors=True)
  optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
  learner = learner_module.DiffWaveLearner(workdir, model, None, optimizer, params)
  hop = params.hop_samples
  features = {
      'audio': 0.3 * torch.randn(args.batch_size, args.frames * hop),
      'spectrogram': torch.rand(args.batch_size, params.n_mels, args.frames),
  }
  weights = os.path.join(workdir, 'weights.pt')
  saved_at_step = None
  print(json.dumps({'ready': True, 'torch': torch.__version__,
                    'threads': torch.get_num_threads(),
                    'parameters': sum(p.numel() for p in model.parameters())}), flush=True)
  for line in sys.stdin:
    request = json.loads(line)
    if request['op'] == 'train':
      model.train()
      start = time.perf_counter()
      learner.train_step(features)
      seconds = time.perf_counter() - start
      learner.step += 1
    elif request['op'] == 'infer':
      if saved_at_step != learner.step:  # predict() loads weights from a model dir
        torch.save({'model': model.state_dict()}, weights)
        inference.models.pop(workdir, None)
        saved_at_step = learner.step
      mel = torch.rand(request['batch'], params.n_mels, request['frames'])
      start = time.perf_counter()
      audio, _ = inference.predict(mel, model_dir=workdir, params={}, device=device,
                                   fast_sampling=True)
      seconds = time.perf_counter() - start
      assert audio.shape == (request['batch'], request['frames'] * hop), audio.shape
    else:
      raise SystemExit(f'unknown request {request}')
    print(json.dumps({'seconds': seconds}), flush=True)


if __name__ == '__main__':
  main()
