"""audiodiff entry point.

  python experiments/main.py --config=experiments/configs/quickstart.py --workdir=DIR
      [--mode=train|sample|eval|vocode] [--config.train.num_steps=...]
"""

from absl import app, flags, logging
from ml_collections import config_flags

from audiodiff import inference, parallel, train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Config file (experiments/configs/*.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Work directory: checkpoints, samples, logs.')
flags.DEFINE_enum('mode', 'train', ['train', 'sample', 'eval', 'vocode'], 'What to run.')
flags.DEFINE_integer('num_samples', None, 'sample: how many (default config.sampler.num_samples).')
flags.DEFINE_integer('checkpoint_step', None, 'sample/eval/vocode: checkpoint step (default latest).')
flags.DEFINE_string('name', None, 'sample/vocode: output folder name under workdir/samples/.')
flags.DEFINE_multi_string('input', [], 'vocode: wav files or mel .npy files to resynthesise.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  parallel.maybe_initialize_distributed()
  config = FLAGS.config
  logging.info('Mode %s, workdir %s', FLAGS.mode, FLAGS.workdir)
  if FLAGS.mode == 'train':
    train.train_and_evaluate(config, FLAGS.workdir)
  elif FLAGS.mode == 'sample':
    inference.sample(config, FLAGS.workdir, num_samples=FLAGS.num_samples,
                     checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name)
  elif FLAGS.mode == 'eval':
    inference.evaluate(config, FLAGS.workdir, checkpoint_step=FLAGS.checkpoint_step)
  else:
    inference.vocode(config, FLAGS.workdir, FLAGS.input,
                     checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name)


if __name__ == '__main__':
  app.run(main)
