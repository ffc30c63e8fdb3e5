"""Model cards: run_info.json kept by training, export.json as the card,
--mode=info, and the README's pretrained table against the shipped cards."""

import json
import os
import re

import pytest

from test_train import ROOT, run_main


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('run')
  run_main(workdir, '--config.train.num_steps=2', '--config.train.sample_every=1000')
  run_main(workdir, '--mode=eval')
  with open(workdir / 'card.json', 'w') as f:
    json.dump({'benchmarks': {'figure': 1.5, 'command': 'python benchmarks/x.py'}}, f)
  run_main(workdir, '--mode=export', f'--output={workdir}/export')
  return workdir


def test_training_keeps_its_wall_time_machine_and_command(exported):
  info = json.load(open(exported / 'run_info.json'))
  assert info['wall_seconds'] > 0 and info['step'] == 2
  assert any('cores' in m for m in info['machines'])
  assert any('--config.train.num_steps=2' in c for c in info['commands'])


def test_export_json_is_the_card(exported):
  card = json.load(open(exported / 'export' / 'export.json'))
  assert card['task'] == 'generate' and card['step'] == 2
  assert card['model']['name'] == 'diffwave' and card['model']['parameters'] > 0
  assert card['data']['dataset'] == 'synthetic_notes' and card['data']['train_examples'] == 32
  assert 0 < card['data']['train_hours'] < 0.01
  assert card['training']['wall_minutes'] >= 0 and card['training']['commands']
  assert '--mode=eval' in card['metrics']['command'] and 'eval_loss' in card['metrics']['values']
  assert card['benchmarks']['figure'] == 1.5  # the run's card.json, merged


def test_the_card_of_an_earlier_step_lists_what_trained_it(exported, tmp_path):
  workdir = tmp_path / 'run'
  run_main(workdir, '--config.train.num_steps=2', '--config.train.sample_every=1000',
           '--config.train.checkpoint_every=1')
  run_main(workdir, '--config.train.num_steps=4', '--config.train.sample_every=1000',
           '--config.train.checkpoint_every=1')
  info = json.load(open(workdir / 'run_info.json'))
  assert info['command_steps'] == [0, 2] and set(info['wall_seconds_at_step']) >= {'2', '4'}
  for step, count in ((2, 1), (4, 2)):
    run_main(workdir, '--mode=export', f'--checkpoint_step={step}', f'--output={tmp_path}/{step}')
    card = json.load(open(tmp_path / str(step) / 'export.json'))
    assert len(card['training']['commands']) == count, card['training']
    assert card['training']['wall_minutes'] == round(
        info['wall_seconds_at_step'][str(step)] / 60, 1)


def test_info_prints_the_card_of_an_export_and_of_a_workdir(exported):
  for directory in (exported / 'export', exported):
    result = run_main(directory, '--mode=info')
    assert 'task: generate' in result.stdout and 'wall_minutes' in result.stdout


def test_readme_pretrained_table_agrees_with_the_cards():
  readme = open(os.path.join(ROOT, 'README.md')).read()
  rows = re.findall(r'^\| `pretrained/([\w_]+)` \| `(\w+)`', readme, flags=re.M)
  assert len(rows) >= 5
  for directory, task in rows:
    card = json.load(open(os.path.join(ROOT, 'pretrained', directory, 'export.json')))
    assert card['task'] == task, directory
    assert card['training']['wall_minutes'] > 0 and card['data']['dataset'], directory
