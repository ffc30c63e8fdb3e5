"""The task seam: a task module owns its inputs, loss terms and sampling; the
run loop, samplers and models stay task-agnostic; trained models travel."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import tiny
from test_train import run_main

import audiodiff
from audiodiff import tasks
from audiodiff.run import api, experiment, losses, train
from audiodiff.diffusion import samplers, schedules
from audiodiff.models import diffwave


def test_unknown_task_names_the_valid_ones():
  config = tiny.get_config()
  config.task = 'vocoderr'
  with pytest.raises(ValueError, match="'vocoderr'.*generate, latent, tts, vocoder"):
    tasks.get_task(config)


def test_guidance_with_a_precomputed_conditioner():
  """A DiffWave reading a label and a mel, sampled with guidance: precomputing
  its mel conditioner (`prepare`) gives the same samples as recomputing it in
  every call, because the sampler joins cond and uncond before `prepare`."""
  model = diffwave.DiffWave(residual_layers=3, residual_channels=8, dilation_cycle=2,
                            num_classes=2, n_mels=5, hop_length=4, embedding_dim=16,
                            step_features=32)
  rng = np.random.default_rng(0)
  x = jnp.zeros((2, 32))
  cond = {'mel': jnp.asarray(rng.uniform(0, 1, (2, 8, 5)), jnp.float32),
          'label': jnp.array([0, 1])}
  uncond = {'mel': cond['mel'], 'label': jnp.array([2, 2])}
  params = model.init(jax.random.PRNGKey(0), x, jnp.zeros((2,)), cond)
  params = jax.tree.map(lambda p: p + 0.1 * jnp.asarray(rng.standard_normal(p.shape),
                                                        p.dtype), params)
  schedule = schedules.Schedule(jnp.asarray(schedules.linear_betas(20, 1e-4, 0.2), jnp.float32))
  fn = lambda x, t, c: model.apply(params, x, t, c)
  prepare = lambda c: model.apply(params, c, method='condition')
  outputs = {}
  for w in (1.0, 3.0):
    sample = samplers.get_sampler('ddim', schedule, num_steps=5, guidance_scale=w)
    run = lambda prep: jax.jit(lambda r: sample(fn, r, x.shape, cond, uncond, prepare=prep))(
        jax.random.PRNGKey(1))
    outputs[w] = run(prepare)
    np.testing.assert_allclose(outputs[w], run(None), atol=1e-4)
  assert float(jnp.max(jnp.abs(outputs[3.0] - outputs[1.0]))) > 1e-3


class _WithTermTask(tasks.Task):
  """A task of the test's own: unconditional audio plus a penalty on the
  network's output at t = 0, weighted by a fixed weight."""
  name = 'generate'   # reads config.generate for its settings

  def loss_weights(self):
    return {'output_energy': 0.5}

  def extra_losses(self, apply_fn, batch, inputs, rng, *, train, frozen=None, step=None):
    del batch, rng, train, frozen, step
    t = jnp.zeros((inputs.x0.shape[0],))
    return {'output_energy': jnp.mean(apply_fn(inputs.x0, t, inputs.cond) ** 2)}


def _tiny_config():
  config = tiny.get_config()
  config.generate.class_conditional = False
  config.sampler.guidance_scale = 1.0
  return config


def test_a_task_adds_named_weighted_loss_terms(monkeypatch):
  config = _tiny_config()
  tasks.TASKS.get('generate')   # imported first, so the undo restores it
  monkeypatch.setitem(tasks.TASKS._entries, 'generate', _WithTermTask)  # pylint: disable=protected-access
  exp = experiment.build(config, '/nonexistent')
  assert isinstance(exp.task, _WithTermTask)
  params = exp.init_params(jax.random.PRNGKey(0))
  params = jax.tree.map(lambda p: p + 0.05, params)   # the zero-init output layer
  batch = jax.tree.map(jnp.asarray, exp.task.example_batch(4))
  batch['audio'] = jnp.sin(jnp.arange(4 * 1024.0).reshape(4, 1024))
  total, metrics = losses.make_loss_fn(exp)(params, batch, jax.random.PRNGKey(1), train=True)
  assert {'loss', 'loss/diffusion', 'loss/output_energy'} <= set(metrics)
  assert float(metrics['loss/output_energy']) > 0
  np.testing.assert_allclose(
      float(total), float(metrics['loss/diffusion'] + 0.5 * metrics['loss/output_energy']),
      rtol=1e-6)
  # The train step logs every term by name.
  state = exp.init_state()
  step = train.make_train_step(exp)
  from audiodiff import data  # pylint: disable=g-import-not-at-top
  _, step_metrics = step(state, data.make_global_batch(
      {'audio': np.asarray(batch['audio'])}, exp.mesh), None)
  assert 'loss/output_energy' in step_metrics


@pytest.fixture(scope='module')
def trained_and_exported(tmp_path_factory):
  """A one-step tiny run and its export: (workdir, export directory)."""
  root = tmp_path_factory.mktemp('exported_run')
  workdir, exported = root / 'run', root / 'exported'
  run_main(workdir, '--config.train.num_steps=1', '--config.train.sample_every=100')
  run_main(workdir, '--mode=export', f'--output={exported}')
  return workdir, exported


def test_export_and_load_sample_like_the_work_directory(trained_and_exported):
  workdir, exported = trained_and_exported
  assert not (exported / 'checkpoints').exists()
  from_run = audiodiff.load(str(workdir))
  from_export = audiodiff.load(str(exported))
  assert from_export.step == from_run.step == 1
  audio_run, request = from_run.sample(2, seed=3)
  audio_export, _ = from_export.sample(2, seed=3)
  np.testing.assert_array_equal(audio_run, audio_export)
  assert audio_export.shape == (2, 1024) and audio_export.dtype == np.float32
  assert request.names[1].startswith('sample_001_class1')
  labelled, request = from_export.sample(2, labels=[3, 3])
  assert all('class3' in name for name in request.names)
  with pytest.raises(AttributeError, match='vocode'):
    from_export.vocode(mel=np.zeros((4, 20)))
  # Every inference mode takes the export as its work directory, no --config.
  result = run_main(exported, '--mode=sample', '--name=from_export', check=True)
  assert 'Wrote 2 samples' in result.stdout
  assert len(list((exported / 'samples' / 'from_export').glob('*.wav'))) == 2


def test_load_refuses_parameters_of_another_model(trained_and_exported):
  config = tiny.get_config()
  config.model.diffwave.residual_channels = 4
  with pytest.raises(ValueError, match='parameter shapes differ'):
    api.load(str(trained_and_exported[1]), config)


def test_a_config_json_from_an_older_version_loads_with_todays_defaults(tmp_path):
  saved = tiny.get_config().to_dict()
  del saved['train']['divergence_factor']          # added later
  saved['model']['conditioning'] = 'label'         # removed since
  saved['sampler']['fast_betas'] = [1e-4, 0.1]     # JSON turns tuples into lists
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  config = experiment.read_config(str(tmp_path))
  assert config.train.divergence_factor == 100.0
  assert 'conditioning' not in config.model
  assert config.sampler.fast_betas == (1e-4, 0.1)
  with pytest.raises(AttributeError):
    config.train.num_stepz = 3                       # locked
