"""TensorBoard: scalars, sample audio with its spectrogram picture, and the
hyperparameters beside the final eval metrics, read back from the event files."""

import glob
import struct

from tensorboardX.proto import event_pb2

from test_train import run_main


def read_events(directory):
  """Every Event in the event files under directory (TFRecord framing)."""
  events = []
  for path in glob.glob(f'{directory}/**/events.out.tfevents.*', recursive=True):
    data = open(path, 'rb').read()
    offset = 0
    while offset < len(data):
      length, = struct.unpack('<Q', data[offset:offset + 8])
      event = event_pb2.Event()
      event.ParseFromString(data[offset + 12:offset + 12 + length])
      events.append(event)
      offset += 12 + length + 4
  return events


def test_samples_pictures_and_hparams_reach_tensorboard(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=2')
  values = [v for e in read_events(tmp_path) for v in e.summary.value]
  tags = {v.tag for v in values}
  assert {'loss', 'eval/loss', 'samples/sample_000_class0_organ'} <= tags
  kinds = {(v.tag, v.WhichOneof('value')) for v in values}
  assert ('samples/sample_000_class0_organ', 'audio') in kinds and ('samples/sample_000_class0_organ', 'image') in kinds
  hparams = [v for v in values if v.tag == '_hparams_/session_start_info']
  assert hparams and b'train.learning_rate' in hparams[0].metadata.plugin_data.content
