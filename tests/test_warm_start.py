"""config.train.init_from: fine-tuning from a run or an export."""

import jax
import numpy as np
import pytest

from experiments.configs import tiny

from audiodiff.errors import UserError
from audiodiff.run import api, experiment, train, warm_start


def tiny_config(**model):
  config = tiny.get_config()
  config.train.sample_every = 1000
  config.model.diffwave.update(model)
  return config


@pytest.fixture(scope='module')
def source_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('source'))
  train.train_and_evaluate(tiny_config(), workdir)
  return workdir


def fresh_state(config):
  return experiment.build(config, None).init_state()


def test_warm_start_takes_the_sources_ema_parameters_with_a_fresh_optimizer(source_run,
                                                                            tmp_path):
  source = api.load(source_run)
  export = str(tmp_path / 'export')
  api.export(source, export)
  for origin in (source_run, export):
    state, summary = warm_start.warm_start(fresh_state(tiny_config()), origin)
    assert f'from {origin}' in summary and int(state.step) == 0
    for tree in (state.params, state.ema_params):
      jax.tree.map(np.testing.assert_array_equal, tree, source.params)
    assert all(float(np.abs(m).max()) == 0.0 for m in jax.tree.leaves(state.opt_state)
               if getattr(m, 'ndim', 0) > 1)


def test_a_model_that_does_not_fit_is_named_with_the_pattern_to_skip_it(source_run):
  config = tiny_config(residual_channels=12)
  with pytest.raises(UserError, match=r"do not fit .*Use the source's model settings \(most "
                                      r'arrays differ\)') as caught:
    warm_start.warm_start(fresh_state(config), source_run)
  assert '\n' not in str(caught.value)
  config = tiny_config()   # one array that differs: the pattern that skips it comes first
  fresh = fresh_state(config)
  source = dict(warm_start.flat_params(api.load(source_run).params))
  name = next(iter(source))
  source[name] = np.zeros(tuple(source[name].shape) + (2,), np.float32)
  with pytest.raises(UserError, match=r'1 parameter array\(s\) .* Train them fresh with '
                                      r'--config.train.init_exclude='):
    warm_start.merged_params(fresh.params, source)


def test_excluded_leaves_keep_their_fresh_values(source_run):
  config = tiny_config()
  fresh = fresh_state(config)
  params, taken, skipped = warm_start.merged_params(fresh.params, api.load(source_run).params,
                                                    exclude='output_projection')
  assert skipped >= 1 and taken >= 1
  flat_new, flat_fresh = warm_start.flat_params(params), warm_start.flat_params(fresh.params)
  for name in flat_new:
    if 'output_projection' in name:
      np.testing.assert_array_equal(flat_new[name], flat_fresh[name])


@pytest.mark.parametrize('source, exclude, message', [
    ('/nonexistent/run', '', 'init_from'),
    (None, '(', 'init_exclude'),
])
def test_bad_settings_are_one_line(source_run, source, exclude, message):
  with pytest.raises(UserError, match=message):
    warm_start.warm_start(fresh_state(tiny_config()), source or source_run, exclude=exclude)


def test_training_resumes_its_own_checkpoint_before_warm_starting(source_run, tmp_path):
  config = tiny_config()
  config.train.init_from = source_run
  workdir = str(tmp_path / 'finetune')
  train.train_and_evaluate(config, workdir)
  config.train.num_steps = 3
  train.train_and_evaluate(config, workdir)  # resumes at step 2: no warm start again
  assert api.load(workdir).step == 3
  again = tiny_config()   # resumed without init_from: the run still says where it began
  again.train.num_steps = 4
  train.train_and_evaluate(again, workdir)
  assert experiment.read_config(workdir).train.init_from == source_run
  # A run that did not start from init_from says it would not be read.
  plain = tiny_config()
  train.train_and_evaluate(plain, str(tmp_path / 'plain'))
  plain.train.init_from, plain.train.num_steps = source_run, 3
  with pytest.raises(UserError, match=r"already has checkpoints \(step 2\), which training "
                                      'resumes from, so it would not be read'):
    train.train_and_evaluate(plain, str(tmp_path / 'plain'))


def test_a_source_of_another_task_is_named_as_such():
  import os  # pylint: disable=g-import-not-at-top
  enhancer = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'pretrained', 'enhance_cpu')
  config = tiny_config()
  with pytest.raises(UserError, match=r"is a model of task 'enhance' \(.*\), this run one of task "
                                      r"'generate' \(diffwave\): config.train.init_from: \d+ parameter"):
    warm_start.warm_start(fresh_state(config), enhancer, config=config)


def test_an_init_exclude_that_takes_nothing_is_refused(source_run):
  config = tiny_config()
  with pytest.raises(UserError, match=r"init_exclude='\.\*' excludes every parameter array"):
    warm_start.warm_start(fresh_state(config), source_run, '.*', config)
  with pytest.raises(UserError, match=r"config.train.init_from='/nonexistent-run'"):
    warm_start.warm_start(fresh_state(config), '/nonexistent-run', '', config)


def test_only_the_trainable_parameters_change(source_run, tmp_path):
  config = tiny_config()
  config.train.init_from = source_run
  config.train.trainable = '^output_projection/'
  config.train.learning_rate = 1e-2
  config.train.warmup_steps = 0
  config.train.ema_decay = 0.0   # the EMA is the parameters: what changed shows
  workdir = str(tmp_path / 'decoder_only')
  train.train_and_evaluate(config, workdir)
  before, after = (warm_start.flat_params(api.load(d).params) for d in (source_run, workdir))
  changed = {name for name in before if not np.array_equal(before[name], after[name])}
  assert changed and all(name.startswith('output_projection/') for name in changed)


@pytest.mark.parametrize('trainable, message', [
    ('^nothing/', r"trainable='\^nothing/' matches no parameter \(they are named like "),
    ('(', r"trainable='\(' is not a regular expression"),
])
def test_a_trainable_pattern_that_takes_nothing_is_one_line(trainable, message):
  config = tiny_config()
  config.train.trainable = trainable
  with pytest.raises(UserError, match=message):
    fresh_state(config)


def test_check_mode_matches_trainable_and_init_exclude_against_the_parameters(source_run):
  config = tiny_config()
  config.train.trainable = '^nothing/'
  with pytest.raises(UserError, match='matches no parameter'):
    train.check(config, None)
  config.train.trainable = '^output_projection/'
  config.train.init_from = source_run
  config.train.init_exclude = '^label_embedding/'
  with pytest.raises(UserError, match=r"init_exclude='\^label_embedding/' starts 1 parameter "
                                      r'array\(s\) fresh .* that config.train.trainable='
                                      r"'\^output_projection/' freezes: they would stay random"):
    train.check(config, None)
  with pytest.raises(UserError, match='they would stay random'):
    warm_start.warm_start(fresh_state(config), source_run, config.train.init_exclude, config)


def test_a_run_resumes_only_with_the_trainable_it_started_with(source_run, tmp_path):
  config = tiny_config()
  config.train.init_from = source_run
  config.train.trainable = '^output_projection/'
  workdir = str(tmp_path / 'partial')
  train.train_and_evaluate(config, workdir)
  config.train.trainable = ''
  config.train.num_steps = 4
  with pytest.raises(UserError, match=r"config.train.trainable='', but the checkpoints in .* "
                                      r"were trained with '\^output_projection/'"):
    train.train_and_evaluate(config, workdir)
