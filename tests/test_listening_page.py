"""Listening pages: one per folder of outputs and one per run, checked in a
real browser (headless Chromium) where one is installed."""

import json
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf

from test_train import run_main

from audiodiff.audio import plotting
from audiodiff.run import listening_page


@pytest.fixture
def outputs_folder(tmp_path):
  folder = tmp_path / 'out'
  folder.mkdir()
  tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000)
  sf.write(folder / 'a & b.wav', tone, 8000)
  plotting.save_comparison_png(str(folder / 'a & b.png'), [('tone', tone)], 8000)
  (folder / 'a & b.json').write_text(json.dumps({'pesq': 2.5, 'si_sdr': {'x': 1.0}}))
  sf.write(folder / 'second.wav', tone[:4000], 8000)
  return folder


def test_folder_page_lists_players_pictures_and_metrics(outputs_folder):
  page = open(listening_page.write_folder_page(str(outputs_folder))).read()
  assert page.count('<audio controls') == 2 and page.count('<img ') == 1
  assert 'src="a%20%26%20b.wav"' in page and '<h3>a &amp; b</h3>' in page
  assert '<td>pesq</td><td>2.500</td>' in page and '2 recordings' in page


def test_training_and_sampling_write_the_pages(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=2')
  run_main(tmp_path, '--mode=sample', '--name=listen')
  run_page = open(tmp_path / 'samples' / 'index.html').read()
  assert 'href="listen/index.html"' in run_page and 'href="step_2/index.html"' in run_page
  assert '<audio controls' in open(tmp_path / 'samples' / 'listen' / 'index.html').read()


@pytest.mark.skipif(not shutil.which('chromium'), reason='needs Debian chromium')
def test_the_page_loads_players_and_pictures_in_chromium(outputs_folder, tmp_path):
  page = listening_page.write_folder_page(str(outputs_folder))
  browser = ['chromium', '--headless', '--no-sandbox', '--disable-gpu',
             '--virtual-time-budget=5000']
  dom = subprocess.run(browser + ['--dump-dom', f'file://{page}'], capture_output=True,
                       text=True, timeout=120, check=True).stdout
  assert 'data-loaded="audio 2/2 images 1/1"' in dom
  screenshot = tmp_path / 'page.png'
  subprocess.run(browser + ['--window-size=1000,800', f'--screenshot={screenshot}',
                            f'file://{page}'], capture_output=True, timeout=120, check=True)
  picture = matplotlib.image.imread(str(screenshot))
  assert picture.shape[:2] == (800, 1000) and picture[..., :3].std() > 0.05  # not blank
