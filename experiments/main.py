"""audiodiff entry point.

  python experiments/main.py --config=experiments/configs/quickstart.py --workdir=DIR
      [--mode=train|sample|eval|vocode|restore|enhance|synthesize|export] [--config.train.num_steps=...]

Inference modes also take an exported model or a trained run without
--config: `--workdir=pretrained/notes --mode=sample` reads its config.json.
"""

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from audiodiff.run import console, inference, parallel, train
from audiodiff.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file (experiments/configs/*.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Work directory: checkpoints, samples, logs.')
flags.DEFINE_enum('mode', 'train', ['train', 'sample', 'eval', 'vocode', 'restore', 'enhance',
                                   'synthesize', 'export'],
                  'What to run.')
flags.DEFINE_integer('num_samples', None, 'sample: how many (default config.sampler.num_samples).')
flags.DEFINE_integer('checkpoint_step', None, 'Inference modes: checkpoint step (default latest).')
flags.DEFINE_string('name', None, 'sample/vocode/restore/enhance/synthesize: output folder under workdir/samples/.')
flags.DEFINE_multi_string('input', [], 'vocode: wav files or mel .npy files to resynthesise; '
                          'restore: degraded wav files; enhance: noisy wav files or '
                          'directories of them.')
flags.DEFINE_multi_string('reference', [], 'restore: clean wav files (one per --input) to '
                          'measure against.')
flags.DEFINE_multi_string('text', [], 'synthesize: a text to speak (repeatable).')
flags.DEFINE_string('text_file', None, 'synthesize: a text file, one utterance a line.')
flags.DEFINE_string('output', None, 'export: output directory (default workdir/export).')
flags.DEFINE_bool('verbose', False, 'Show library INFO logs (Orbax, TFDS, Grain).')
flags.DEFINE_bool('debug', False, 'Show the traceback of user errors too.')
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  console.set_verbosity(FLAGS.verbose)
  parallel.maybe_initialize_distributed()
  try:
    run(_config(), FLAGS.workdir, FLAGS.mode)
  except UserError as error:
    if FLAGS.debug:
      raise
    print(f'error: {error}', file=sys.stderr, flush=True)
    sys.stdout.flush()
    # Everything that writes (checkpoints, event files) was closed on the way
    # out; os._exit keeps Orbax's idle background threads from printing
    # "Event loop is closed" tracebacks at interpreter shutdown.
    os._exit(2)  # pylint: disable=protected-access


def _config():
  """FLAGS.config, loaded now (config_flags loads lazily): a missing file is
  a UserError."""
  config = FLAGS.config
  try:
    if config is not None:
      config['task']  # pylint: disable=pointless-statement
  except OSError as error:
    reason = str(error).strip().splitlines()[-1].strip()
    raise UserError(f'--config could not be loaded: {reason}. The configs are in '
                    'experiments/configs/.') from None
  return config


def run(config, workdir, mode):
  if mode == 'train':
    if config is None:
      raise UserError('--mode=train needs --config=experiments/configs/<name>.py.')
    train.train_and_evaluate(config, workdir)
  elif mode == 'sample':
    inference.sample(config, workdir, num_samples=FLAGS.num_samples,
                     checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name)
  elif mode == 'eval':
    inference.evaluate(config, workdir, checkpoint_step=FLAGS.checkpoint_step)
  elif mode == 'restore':
    inference.restore(config, workdir, FLAGS.input, references=FLAGS.reference,
                      checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name)
  elif mode == 'enhance':
    inference.enhance(config, workdir, FLAGS.input, checkpoint_step=FLAGS.checkpoint_step,
                      name=FLAGS.name)
  elif mode == 'synthesize':
    inference.synthesize(config, workdir, FLAGS.text, text_file=FLAGS.text_file,
                         checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name)
  elif mode == 'vocode':
    inference.vocode(config, workdir, FLAGS.input, checkpoint_step=FLAGS.checkpoint_step,
                     name=FLAGS.name)
  else:
    inference.export(config, workdir, FLAGS.output, checkpoint_step=FLAGS.checkpoint_step)


if __name__ == '__main__':
  app.run(main)
