"""The command line refuses every config field a mode never reads, and no
field it does read: each shipped model's main mode runs on a short input
while `config_reads` records the fields it reads, and unread_flags' rules
(with the trained settings that loading a model refuses to change) are
checked against that record, field by field."""

import os

import numpy as np
import pytest
import soundfile as sf

import config_reads
from audiodiff.errors import UserError
from audiodiff.restoration import restore
from audiodiff.run import api, experiment, inference, unread_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (model, mode, the mode's arguments, config fields set as a config file would)
CASES = [
    ('notes', 'sample', {}, {'sampler.num_samples': 1}),
    ('enhance_cpu', 'enhance', {'inputs': ['speech']}, {}),
    ('vocoder_cpu', 'vocode', {'inputs': ['speech']}, {}),
    ('speech_prior_cpu', 'restore', {'inputs': ['speech']},
     {'restore.task': 'inpaint', 'restore.gaps': '0.40-0.42', 'restore.method': 'projection'}),
    ('speech_prior_cpu', 'restore', {'inputs': ['speech']},    # the default recipe, refining
     {'restore.task': 'inpaint', 'restore.gaps': '0.10-0.22'}),
    ('tts_cpu', 'synthesize', {'texts': ['Hello.']}, {}),
    ('music_latent_cpu', 'sample', {}, {'sampler.num_samples': 1}),
    ('diffwave_vocoder_cpu', 'vocode', {'inputs': ['speech']}, {}),
]

# Fields read while a mode sets itself up that change none of its outputs;
# the command line refuses them (unread_flags says why). Building the
# experiment builds the optimizer, the loss weights, the modules with their
# dropout rates and a sampler (which a predictive enhancer never runs); a
# task reads its training and test sets' settings (and its training crop).
_SET_UP = ('train.decay', 'train.grad_clip_norm', 'train.learning_rate', 'train.num_steps',
           'train.trainable', 'train.warmup_steps', 'train.weight_decay',
           'data.max_text_length', 'data.segment_length')
READ_WITHOUT_EFFECT = {
    'enhance': ('enhance.noise_types', 'enhance.snr_db', 'enhance.augment',
                'enhance.test_voices', 'data.name', 'data.voices', 'sampler.*'),
    'restore': ('restore.data_std', 'restore.guidance', 'restore.noise_std'),  # pigdm's, dps'
    'synthesize': ('tts.segment_frames', 'tts.test_utterances'),
    # The latent scale is set in training; one window has no overlap.
    'sample': ('latent.scaling_clips', 'latent.overlap_seconds'),
}


def _read_without_effect(field, mode) -> bool:
  return (field in _SET_UP or field.endswith(('dropout', '_weight')) or any(
      field == name or (name.endswith('.*') and field.startswith(name[:-1]))
      for name in READ_WITHOUT_EFFECT.get(mode, ())))


def _set_by_recipe(field, config) -> bool:
  """A restore setting that config.restore.method='' takes from the task's
  recipe (read, but the user's value would be overridden: refused)."""
  section, name = field.split('.')
  return section == 'restore' and not config.restore.method and name in (
      restore.DEFAULT_RECIPE.get(config.restore.task, {}))


# What reads every field to record or compare the config, not to act on it.
RECORD_KEEPING = [(inference, '_made_by'), (api, 'check_trained_settings'),
                  (api, 'check_sections_read'), (experiment, 'flat_config'),
                  (experiment, 'validate_config')]


@pytest.fixture(scope='module', params=CASES, ids=lambda case: f'{case[0]}-{case[1]}')
def recorded(request, tmp_path_factory):
  """-> (config, reads, mode, workdir) of one case's run."""
  model, mode, arguments, fields = request.param
  folder = tmp_path_factory.mktemp(f'{model}-{mode}')
  speech = str(folder / 'speech.wav')
  t = np.arange(8000) / 16000
  sf.write(speech, (0.1 * np.sin(2 * np.pi * 220 * t) * np.hanning(len(t))).astype(np.float32),
           16000)
  arguments = {key: [speech if v == 'speech' else v for v in value]
               for key, value in arguments.items()}
  workdir = os.path.join(ROOT, 'pretrained', model)
  config = experiment.read_config(workdir)
  for field, value in fields.items():
    section, name = field.split('.')
    config[section][name] = value
  with config_reads.recording(config) as reads:
    for module, name in RECORD_KEEPING:
      reads.ignoring(module, name)
    getattr(inference, mode)(config, workdir, output=str(folder / 'out'), **arguments)
  return config, reads, mode, workdir


def _flag_refused(field, config, mode, workdir) -> bool:
  argv = ['main.py', f'--workdir={workdir}', f'--mode={mode}', f'--config.{field}=1']
  try:
    unread_flags.check(argv, config, mode)
  except UserError:
    return True
  return False


def test_every_field_the_mode_never_reads_is_refused(recorded):
  config, reads, mode, workdir = recorded
  taken = [field for field in reads.unread(config)
           if not (_flag_refused(field, config, mode, workdir)
                   or api.is_trained_setting(field))]
  assert not taken, f'--mode={mode} never reads these, but takes them: {taken}'


def test_no_field_the_mode_reads_is_refused(recorded):
  config, reads, mode, workdir = recorded
  refused = [field for field in config_reads.leaves(config)
             if reads.was_read(field) and _flag_refused(field, config, mode, workdir)
             and not _read_without_effect(field, mode) and not _set_by_recipe(field, config)]
  assert not refused, f'--mode={mode} reads these, but refuses them: {refused}'


@pytest.mark.parametrize('model, args, message', [
    ('notes', ('--mode=sample', '--config.restore.method=dps'),
     '--config.restore.method has no effect on --mode=sample: only --mode=restore reads '
     'config.restore'),
    ('vocoder_cpu', ('--mode=vocode', "--config.data.voices=('slt',)"),
     'it is about the training corpus'),
    ('enhance_cpu', ('--mode=enhance', '--config.enhance.test_snr_db=(0.0,)'),
     "only --mode=eval (and training's evaluation) reads the held-out sets"),
    ('vocoder_cpu', ('--mode=vocode', '--config.sampler.batch_size=2'),
     'only --mode=sample reads it (this mode batches by config.vocoder.batch_chunks)'),
    ('diffwave_vocoder_cpu', ('--mode=vocode', '--config.vocoder.compression_scale=0.5'),
     "only the frame vocoder (config.task='frame_vocoder') reads it"),
    ('vocoder_cpu', ('--mode=vocode', '--config.data.segment_length=4096'),
     "it is the training crop; the length of an output is its input's"),
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.start_order=64'),
     "config.restore.start_order is set by the default recipe for task='inpaint'"),
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.center_gain=1.0'),
     "config.restore.center_gain is set by the default recipe for task='inpaint'"),
    ('music_latent_cpu', ('--mode=sample', '--config.latent.scaling_clips=8'),
     'only training reads it'),
    ('music_latent_cpu', ('--mode=sample', '--config.latent.overlap_seconds=0.5'),
     'config.latent.seconds fits one window, so no windows overlap'),
    ('music_latent_cpu', ('--mode=sample', '--num_samples=2', '--config.sampler.num_samples=2'),
     '--num_samples is given, which it would set'),
    ('notes', ('--mode=eval', '--config.sampler.name=ddim'),
     "--config.sampler.name has no effect on --mode=eval: a 'generate' model's evaluation is "
     'its test loss'),
    ('notes', ('--mode=export', '--config.sampler.num_steps=8'),
     "config.sampler.num_steps does not apply to the 'ddpm' sampler"),
])
def test_each_rule_names_why(model, args, message):
  config = experiment.read_config(os.path.join(ROOT, 'pretrained', model))
  with pytest.raises(UserError) as caught:
    unread_flags.check(['main.py', *args], config, args[0].removeprefix('--mode='))
  assert message in str(caught.value)
