"""audiodiff entry point.

  python experiments/main.py --config=experiments/configs/quickstart.py --workdir=DIR
      [--mode=train|sample|eval|vocode|restore|enhance|synthesize|export|info] [--config.train.num_steps=...]

Inference modes also take an exported model or a trained run without
--config: `--workdir=pretrained/notes --mode=sample` reads its config.json,
and --config.a.b=v flags change fields of that saved config.
"""

import ast
import errno
import os
import re
import shutil
import signal
import sys

import ml_collections
from absl import app, flags
from ml_collections import config_flags

from audiodiff import defaults
from audiodiff.run import (checkpoint, config_file, console, experiment, health, inference,
                           outputs, parallel, train, unread_flags)
from audiodiff.errors import Stopped, UserError
from experiments import saved_config

FLAGS = flags.FLAGS
# Loads DIR/config.json as a config file, so --config.* flags can change it.
SAVED_CONFIG = os.path.abspath(saved_config.__file__)
config_flags.DEFINE_config_file('config', None, 'Config file (experiments/configs/*.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Work directory: checkpoints, samples, logs.')
flags.DEFINE_enum('mode', 'train', ['train', 'sample', 'eval', 'vocode', 'restore', 'enhance',
                                   'synthesize', 'export', 'info', 'check'],
                  'What to run.')
flags.DEFINE_integer('num_samples', None, 'sample: how many (default config.sampler.num_samples).')
flags.DEFINE_list('labels', None, 'sample: class names or ids, one per sample (one: every '
                  'sample; default: the classes in turn).')
flags.DEFINE_integer('checkpoint_step', None, 'Inference modes: checkpoint step (default latest).')
flags.DEFINE_string('name', None, 'sample/vocode/restore/enhance/synthesize: output folder under workdir/samples/.')
flags.DEFINE_multi_string('input', [], 'vocode: wav files or mel .npy files to resynthesise; '
                          'restore: degraded wav files; enhance: noisy wav files or '
                          'directories of them.')
flags.DEFINE_multi_string('reference', [], 'restore: clean wav files (one per --input) to '
                          'measure against.')
flags.DEFINE_multi_string('text', [], 'synthesize: a text to speak (repeatable).')
flags.DEFINE_string('text_file', None, 'synthesize: a text file, one utterance a line.')
flags.DEFINE_string('output', None, 'Output directory: export (default workdir/export); '
                    'eval (default workdir, writing eval/ there); the other inference '
                    'modes (default workdir/samples/<name>).')
flags.DEFINE_enum('precision', None, ['float32', 'float16'], 'export: how the parameters are '
                  'stored (float16: half the size; loaded back as float32). Default: an '
                  "export's own, float32 for a training run.")
flags.DEFINE_bool('verbose', False, 'Show library INFO logs (Orbax, TFDS, Grain).')
flags.DEFINE_bool('debug', False, 'Show the traceback of user errors too.')


def with_saved_config(argv):
  """argv with --config=saved_config.py:WORKDIR added when it changes fields
  (--config.a.b=v) of a model directory's saved config without --config."""
  if any(a == '--config' or a.startswith('--config=') for a in argv):
    return argv
  if not any(a.startswith('--config.') for a in argv):
    return argv
  workdir = unread_flags.flag_value(argv, '--workdir')
  if workdir is None:
    raise UserError('--config.* flags change a config: give --config=experiments/configs/'
                    '<name>.py, or --workdir=<a trained model> to change its saved one.')
  step = unread_flags.flag_value(argv, '--checkpoint_step')
  argument = workdir if step is None else f'{workdir}{saved_config.STEP}{step}'
  return argv[:1] + [f'--config={SAVED_CONFIG}:{argument}'] + argv[1:]


CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')


def check_config_file(argv):
  """A UserError unless --config names a Python file defining get_config()
  (checked by parsing, so that no other file runs)."""
  for value in _config_values(argv):
    path = value.split(':', 1)[0]
    if not os.path.isfile(path):
      where = '' if os.path.isabs(path) else f' (read from the current folder, {os.getcwd()})'
      raise UserError(f'--config={path} does not exist{where}; the configs are in '
                      f'{CONFIGS_DIR}/.')
    try:
      with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    except (SyntaxError, UnicodeDecodeError) as error:
      where = f' (line {error.lineno})' if getattr(error, 'lineno', None) else ''
      raise UserError(f'--config={path} is not valid Python{where}: {error.msg if hasattr(error, "msg") else error}.') from None
    if not any(isinstance(node, ast.FunctionDef) and node.name == 'get_config'
               for node in tree.body):
      raise UserError(f'--config={path} is not a config file (it defines no get_config()); '
                      f'the configs are in {CONFIGS_DIR}/.')
    if os.path.abspath(path) != SAVED_CONFIG:
      config_file.check_signature(path, tree, value.split(':', 1)[1] if ':' in value else None)


def _config_argument(argv) -> str:
  """The --config argument as given ('--config=FILE'), or '--config'."""
  value = next(_config_values(argv), None)
  return '--config' if value is None else f'--config={value}'


def double_dashed(argv):
  """argv with its one-dash flags (`-config.a.b=v`, `-mode=sample`, which
  absl reads as two) spelled with two, so every check here sees them."""
  spelled = list(argv[:1])
  for i, arg in enumerate(argv[1:], 1):
    if arg == '--':
      return spelled + list(argv[i:])
    name = arg[1:].split('=', 1)[0].split('.', 1)[0]
    one_dash = arg.startswith('-') and not arg.startswith('--')
    known = name in FLAGS or name.removeprefix('no') in FLAGS   # -nodebug
    spelled.append('-' + arg if one_dash and known else arg)
  return spelled


def parse_flags(argv):
  """absl's flag parsing, with any error (a mistyped or wrongly typed
  --config field, a config file that does not load) as one line, exit 2."""
  spelled = double_dashed(argv)
  if argv is sys.argv:   # the flag checks in main() read sys.argv
    sys.argv[:] = spelled
  argv = spelled
  try:
    check_single_flags(argv)
    argv = with_saved_config(argv)
    check_config_file(argv)
    try:
      return FLAGS(argv)
    except SystemExit as stop:   # sys.exit() in a config file of one's own
      raise UserError(f'{_config_argument(argv)}: loading it called sys.exit({stop.code!r}); '
                      'a config file returns its config from get_config() (raise an '
                      'exception to refuse settings).') from None
    except Exception:  # pylint: disable=broad-except
      _diagnose_config_file(argv)   # the file's own line, if the file is what raised
      raise
  except (flags.Error, UserError, KeyError, AttributeError, TypeError, ValueError,
          OSError) as error:
    if '--debug' in argv:
      raise
    line = _plain_type_error(_one_line(error))
    if isinstance(error, (KeyError, AttributeError)) and '\n' not in str(error).strip():
      line = _unknown_field(error, argv) or line
    unknown = re.search(r"Unknown command line flag '(\w+)'", line)
    fields = experiment.flat_config(defaults.get_config())
    near = unknown and sorted(k for k in fields if k.split('.')[-1] == unknown[1])
    if near:   # --seed=5 for --config.seed=5
      line += f' (config field{"s" * (len(near) > 1)}: {", ".join(f"--config.{k}" for k in near)})'
    print(f'error: {line}', file=sys.stderr, flush=True)
    sys.exit(2)


_TYPE_ERRORS = ((r'invalid literal for int\(\) with base 10', 'a whole number', '4'),
                (r'could not convert string to float', 'a number', '0.5'))


def _plain_type_error(line: str) -> str:
  """absl's "flag --x=v: invalid literal for int() ..." said as what --x takes."""
  for pattern, kind, example in _TYPE_ERRORS:
    found = re.match(rf'flag (--[\w.]+)=(.*): {pattern}', line)
    if found:
      return f'{found[1]}={found[2]}: give {kind}, e.g. {found[1]}={example}.'
  return line


SINGLE_FLAGS = ('workdir', 'mode', 'config', 'output', 'checkpoint_step', 'num_samples')


def check_single_flags(argv):
  """A UserError for a flag that names one thing given twice (absl would
  keep the last one: a sweep's extra --workdir=X would put every run in X);
  a config field given twice is said, and the last one counts."""
  for name in SINGLE_FLAGS:
    given = [a for a in argv[1:] if a == f'--{name}' or a.startswith(f'--{name}=')]
    if len(given) > 1:
      raise UserError(f'--{name} is given {len(given)} times ({", ".join(given)}); give it once.')
  overrides = {}
  for arg in argv[1:]:
    if arg.startswith('--config.') and '=' in arg:
      overrides.setdefault(arg.split('=')[0], []).append(arg)
      check_not_a_section(arg)
  for key, given in overrides.items():
    if len(given) > 1:  # a later flag overriding a script's own is a normal use: said
      print(f'{key} is given {len(given)} times; the last one counts ({given[-1]}). A list '
            'goes in one flag: --config.restore.gaps=0.1-0.12,0.5-0.55.', file=sys.stderr)


def check_not_a_section(arg):
  """A UserError for --config.a=v where config.a is a section (a dict of
  fields): replacing it whole would drop the fields v does not name."""
  path = arg.split('=', 1)[0].removeprefix('--config.').split('.')
  node = defaults.get_config()
  for name in path:
    if not isinstance(node, ml_collections.ConfigDict) or name not in node:
      return  # not a field: the parser names the close ones
    node = node[name]
  if isinstance(node, ml_collections.ConfigDict):
    example = next(iter(node.keys()), 'field')
    raise UserError(f'{arg.split("=", 1)[0]} is a section of fields ({", ".join(node.keys())}); '
                    f'set them one by one, e.g. --config.{".".join(path)}.{example}=...')


def _unknown_field(error, argv):
  """For a KeyError / AttributeError naming a field with no close match:
  the flag that named it and its section's fields; None if no flag did."""
  name = str(error).strip().strip('"\'')
  for arg in argv[1:]:
    path = arg.split('=', 1)[0].removeprefix('--config.').split('.')
    if not arg.startswith('--config.') or path[-1] != name:
      continue
    node = defaults.get_config()
    for part in path[:-1]:
      node = node[part] if isinstance(node, ml_collections.ConfigDict) and part in node else None
    fields = f'; the fields of config.{".".join(path[:-1])}: {", ".join(node.keys())}' if (
        isinstance(node, ml_collections.ConfigDict) and len(path) > 1) else ''
    return f'no config field {".".join(path)!r} ({arg.split("=", 1)[0]}){fields}.'
  return None


def _one_line(error):
  """An exception from flag parsing -> one readable line."""
  text = str(error).strip()
  if text[:1] in '\'"':
    try:
      text = str(ast.literal_eval(text)).strip()  # a KeyError's repr, escaped
    except (ValueError, SyntaxError):
      pass
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if not lines:
    return type(error).__name__
  if len(lines) > 1 and lines[0].startswith("'") and lines[0].endswith("'"):
    return f'no config field {lines[0]}: ' + ' '.join(lines[1:])  # Did you mean ...?
  return lines[-1].removeprefix('audiodiff.errors.UserError: ')


_SIGNAL = [signal.SIGINT]  # the signal that stopped the run


def _interrupt(number, frame):
  del frame
  _SIGNAL[0] = number
  raise KeyboardInterrupt


def main(argv):
  if len(argv) > 1:   # after a bare '--', or without a leading dash
    _exit_with(UserError(f'{" ".join(argv[1:])}: not read (words after a bare "--", or '
                         'without a leading "--", are no flags); give each as --name=value '
                         'before any "--".'))
  console.set_verbosity(FLAGS.verbose)
  parallel.maybe_initialize_distributed()
  signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: stopped in one line
  _expand_home()
  try:
    run(_config(), FLAGS.workdir, FLAGS.mode)
  except KeyboardInterrupt:
    if FLAGS.debug:
      raise
    name = signal.Signals(_SIGNAL[0]).name
    if FLAGS.mode == 'export':   # written beside, renamed when complete
      said = 'nothing was exported (the same command starts it again)'
    elif FLAGS.mode == 'train' and _has_checkpoint(
        os.path.join(FLAGS.workdir or '', 'checkpoints')):
      said = ('what was written so far is kept (training resumes from its last checkpoint '
              'with the same command)')
    elif FLAGS.mode == 'train':
      said = ('no checkpoint was saved yet, so there is nothing to resume (the same command '
              'starts training from step 0)')
    else:
      said = 'what was written so far is kept (the same command starts this job again)'
    print(f'Stopped by {name}; {said}.', file=sys.stderr, flush=True)
    outputs.release_folders()
    os._exit(128 + _SIGNAL[0])  # pylint: disable=protected-access
  except UserError as error:
    if FLAGS.debug:
      raise
    _exit_with(error)
  except Exception as error:  # pylint: disable=broad-except
    if FLAGS.debug:
      raise
    if checkpoint.is_disk_full(error):
      again = ('training resumes from its last checkpoint' if FLAGS.mode == 'train' else
               'the outputs finished are kept, and it goes on after them')
      _exit_with(UserError(
          f'Disk full while writing {getattr(error, "filename", None) or "to the work directory"}'
          f'. Free some space and run the same command ({again}).'))
    if 'RESOURCE_EXHAUSTED' in str(error):
      _exit_with(UserError(_out_of_memory(error)))
    if isinstance(error, OSError) and error.errno == errno.ENAMETOOLONG:
      _exit_with(UserError(
          f'Cannot write {error.filename}: the name is too long for this file system; give '
          'the input (or --name, --output) a shorter name.'))
    if (FLAGS.mode != 'train' and isinstance(error, OSError) and error.filename
        and error.errno in _UNWRITABLE):
      _exit_with(UserError(
          f'Cannot write {error.filename} ({error.strerror}): its folder was removed or made '
          'unwritable while this run wrote into it. What was written so far is kept; make '
          'the folder writable and run the same command to continue.'))
    raise


def _out_of_memory(error) -> str:
  """One line for an allocation the device could not make, naming the
  setting that sizes it in this mode."""
  reason = next((line.strip() for line in str(error).splitlines()
                 if 'RESOURCE_EXHAUSTED' in line), 'RESOURCE_EXHAUSTED')
  config = FLAGS.config
  if FLAGS.mode == 'train':
    size = f'config.train.batch_size={config.train.batch_size}' if config else 'the batch'
    fix = ('lower it, or keep it and split each step with --config.train.microbatches=N '
           '(a resumed run goes on from its last checkpoint)')
  else:
    size, fix = 'a batch setting', ('lower --config.sampler.batch_size (sampling) or '
                                    '--config.enhance.batch_windows (enhancement)')
  return f'Out of memory ({reason.split(":", 1)[-1].strip()}): {size} does not fit; {fix}.'


# A folder gone or locked while a mode writes into it.
_UNWRITABLE = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS)


def _expand_home():
  """~ in path flags (a shell leaves `--output=~/x` as it is)."""
  for name in ('workdir', 'output', 'text_file'):
    if FLAGS[name].value:
      FLAGS[name].value = os.path.expanduser(FLAGS[name].value)
  for name in ('input', 'reference'):
    if FLAGS[name].value:
      FLAGS[name].value = [os.path.expanduser(v) for v in FLAGS[name].value]


def _exit_with(error):
  """Prints a UserError in one line and exits with its status."""
  prefix = '' if isinstance(error, Stopped) else 'error: '
  print(f'{prefix}{error}', file=sys.stderr, flush=True)
  sys.stdout.flush()
  outputs.release_folders()  # a folder made for outputs that never came goes
  # Everything that writes (checkpoints, event files) was closed on the way
  # out; os._exit keeps Orbax's idle background threads from printing
  # "Event loop is closed" tracebacks at interpreter shutdown.
  os._exit(error.exit_code)  # pylint: disable=protected-access


def _config():
  """FLAGS.config, loaded now (config_flags loads lazily): a missing file, or
  a config file of one's own that fails or returns what the defaults do not
  hold, is a UserError."""
  try:
    config = FLAGS.config
    if config is not None:
      config['task']  # pylint: disable=pointless-statement
  except OSError as error:
    reason = str(error).strip().splitlines()[-1].strip()
    raise UserError(f'--config could not be loaded: {reason}. The configs are in '
                    'experiments/configs/.') from None
  except Exception:  # pylint: disable=broad-except
    _diagnose_config_file(sys.argv)
    raise
  own = _own_config_file(sys.argv)
  if own is not None:
    flagged = {a.split('=', 1)[0].removeprefix('--config.') for a in sys.argv
               if a.startswith('--config.')}
    config_file.check_loaded(config, own[0], CONFIGS_DIR, flagged)
  return config


def _config_values(argv):
  """The values of --config in argv (`--config=X` or `--config X`)."""
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      yield arg.split('=', 1)[1]
    elif arg == '--config' and i + 1 < len(argv):
      yield argv[i + 1]


def _own_config_file(argv):
  """(path, argument or None) of --config in argv unless it is a model
  directory's saved config; None without --config."""
  for value in _config_values(argv):
    path, _, argument = value.partition(':')
    if os.path.abspath(path) != SAVED_CONFIG:
      return path, (argument or None)
  return None


def _diagnose_config_file(argv):
  """A UserError naming what a config file of one's own got wrong, when
  loading it failed."""
  own = _own_config_file(argv)
  if own is not None and os.path.isfile(own[0]):
    config_file.diagnose(*own, CONFIGS_DIR)


# The flags each mode reads beside --config, --workdir and --mode.
MODE_FLAGS = {
    'train': (),
    'sample': ('num_samples', 'labels', 'checkpoint_step', 'name', 'output'),
    'eval': ('checkpoint_step', 'output'),
    'vocode': ('input', 'checkpoint_step', 'name', 'output'),
    'restore': ('input', 'reference', 'checkpoint_step', 'name', 'output'),
    'enhance': ('input', 'checkpoint_step', 'name', 'output'),
    'synthesize': ('text', 'text_file', 'checkpoint_step', 'name', 'output'),
    'export': ('checkpoint_step', 'output', 'precision'),
    'info': ('checkpoint_step',),
    'check': (),   # training's flags: a sweep checks each point with them
}


def check_mode_flags(mode):
  """A UserError for a flag the mode would silently ignore."""
  for name in sorted({n for names in MODE_FLAGS.values() for n in names}):
    if FLAGS[name].present and name not in MODE_FLAGS[mode]:
      users = ', '.join(f'--mode={m}' for m, names in MODE_FLAGS.items() if name in names)
      raise UserError(f'--{name} is not used by --mode={mode} (it is for {users}).')


def run(config, workdir, mode):
  """Runs `mode`; a work directory this run created is removed again when
  the run fails before writing anything into it, and inference leaves no
  empty checkpoints/ folder behind."""
  created = workdir and not os.path.exists(workdir)
  checkpoints = os.path.join(workdir or '', 'checkpoints')
  had_checkpoints = os.path.exists(checkpoints)
  try:
    _run_mode(config, workdir, mode)
  except BaseException as error:
    # Made by this run with nothing to resume: gone again (a diverged run
    # keeps its TensorBoard curve).
    if created and not outputs.remove_if_empty(workdir) and mode == 'train' and not (
        isinstance(error, health.DivergenceError) or _has_checkpoint(checkpoints)):
      shutil.rmtree(workdir, ignore_errors=True)
    raise
  finally:
    # Inference looks for checkpoints; it leaves no empty folder of them.
    if mode != 'train' and not had_checkpoints and os.path.isdir(checkpoints):
      outputs.remove_if_empty(checkpoints)


def _has_checkpoint(checkpoints):
  """Whether a training run saved a step into `checkpoints`."""
  return bool(checkpoint.saved_steps(checkpoints))


def check_empty_paths():
  """A UserError for a path flag given an empty value (`--output=$OUT` with
  OUT unset would otherwise mean "no --output")."""
  for name in ('workdir', 'output', 'text_file', 'input', 'reference'):
    values = FLAGS[name].value
    if FLAGS[name].present and any(
        not str(v).strip() for v in (values if isinstance(values, list) else [values])):
      raise UserError(f'--{name} is given an empty value (an unset shell variable?); give a '
                      'path, or leave the flag out.')


def _run_mode(config, workdir, mode):
  check_empty_paths()
  check_mode_flags(mode)
  unread_flags.check(sys.argv, config, mode)
  if mode in ('train', 'check') and config is None:
    raise UserError(f'--mode={mode} needs --config=experiments/configs/<name>.py.')
  if not workdir and mode == 'train':
    raise UserError('--mode=train needs --workdir=DIR: the folder for its checkpoints, samples '
                    'and logs (a new one, or a run to resume).')
  if not workdir and mode != 'check':
    raise UserError(f'--mode={mode} needs --workdir=DIR: a trained model (a run or an export, '
                    'e.g. pretrained/notes).')
  if mode == 'train':
    train.train_and_evaluate(config, workdir)
  elif mode == 'check':   # what training checks before its first step; nothing written
    train.check(config, workdir)
    console.say(f'{config_flags.get_config_filename(FLAGS["config"])}: the settings are valid.')
  elif mode == 'sample':
    inference.sample(config, workdir, num_samples=FLAGS.num_samples, labels=FLAGS.labels,
                     checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name,
                     output=FLAGS.output)
  elif mode == 'eval':
    inference.evaluate(config, workdir, checkpoint_step=FLAGS.checkpoint_step,
                       output=FLAGS.output)
  elif mode == 'restore':
    inference.restore(config, workdir, FLAGS.input, references=FLAGS.reference,
                      checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name,
                      output=FLAGS.output)
  elif mode == 'enhance':
    inference.enhance(config, workdir, FLAGS.input, checkpoint_step=FLAGS.checkpoint_step,
                      name=FLAGS.name, output=FLAGS.output)
  elif mode == 'synthesize':
    inference.synthesize(config, workdir, FLAGS.text, text_file=FLAGS.text_file,
                         checkpoint_step=FLAGS.checkpoint_step, name=FLAGS.name,
                         output=FLAGS.output)
  elif mode == 'vocode':
    inference.vocode(config, workdir, FLAGS.input, checkpoint_step=FLAGS.checkpoint_step,
                     name=FLAGS.name, output=FLAGS.output)
  elif mode == 'info':
    inference.info(config, workdir, checkpoint_step=FLAGS.checkpoint_step)
  else:
    inference.export(config, workdir, FLAGS.output, checkpoint_step=FLAGS.checkpoint_step,
                     precision=FLAGS.precision)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
