"""How well music autoencoders reconstruct: held-out corpus clips and recorded music.

  python benchmarks/autoencoder_quality.py \
      --model=pretrained/music_latent_cpu/autoencoder --model=runs/music_sae

Each --model (an autoencoder run or export) reconstructs, from its latent
means, up to --max_clips whole test clips of its own corpus (MIDI music
rendered by fluidsynth, arrangements it never trained on) and 4 s excerpts
of the recorded music in Debian's asterisk-moh-opsound-g722 (a family no
model here trained on; `Autoencoder.held_out_metrics`). Prints SI-SDR,
multi-resolution STFT distance and mel L1 per model and family, with the
latent size per second of audio and the wall time per second reconstructed.
"""

import os
import time

from absl import flags

import audiodiff
from audiodiff.errors import run_script
from audiodiff.run import api
from audiodiff.tasks.autoencoder import autoencoder_hop, autoencoder_latent_channels

flags.DEFINE_multi_string('model', ['pretrained/music_latent_cpu/autoencoder'],
                          'Autoencoder runs or exports.')
flags.DEFINE_integer('max_clips', 64, 'Clips per family.', lower_bound=1)
FLAGS = flags.FLAGS

FAMILIES = (('held_out_reconstruction', 'corpus test clips (MIDI)'),
            ('recorded_music_reconstruction', 'recorded music (unseen family)'))


def main(_):
  for path in FLAGS.model:   # all checked before any work
    inner = os.path.join(path, 'autoencoder')
    api.check_task(path, ('autoencoder',), 'an autoencoder',
                   f'; its autoencoder: --model={inner}' if os.path.isdir(inner) else '')
  models = [audiodiff.load(path) for path in FLAGS.model]
  print('| model | family | clips | SI-SDR dB | MR-STFT | mel L1 | latent values/s | '
        's per s |')
  print('|---|---|---|---|---|---|---|---|')
  for path, model in zip(FLAGS.model, models):
    config = model.config
    values = (config.audio.sample_rate / autoencoder_hop(config)
              * autoencoder_latent_channels(config))
    start = time.time()
    results = model.task.held_out_metrics(model, max_clips=FLAGS.max_clips)
    seconds = sum(r['num_clips'] * r['seconds_per_clip'] for r in results.values())
    cost = (time.time() - start) / seconds
    for key, family in FAMILIES:
      if key not in results:
        print(f'| {path} | {family} | not installed | | | | | |')
        continue
      r = results[key]
      print(f'| {path} | {family} | {r["num_clips"]} | {r["si_sdr"]:.2f} | '
            f'{r["mrstft"]:.3f} | {r["mel_l1"]:.4f} | {values:.0f} | {cost:.3f} |')


if __name__ == '__main__':
  run_script(main)
