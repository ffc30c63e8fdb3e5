"""The config a trained run or an export saved, as a config file:
`--config=experiments/saved_config.py:DIR` loads DIR/config.json
(`DIR|step=N`: the config of the run that saved checkpoint N), so that
--config.a.b=v flags change its fields (experiments/main.py adds it when
such flags come without --config)."""

import os

from audiodiff.errors import UserError
from audiodiff.run import experiment


STEP = '|step='


def get_config(argument):
  directory, _, step = argument.rpartition(STEP) if STEP in argument else (argument, '', '')
  if not os.path.exists(os.path.join(directory, 'config.json')):
    raise UserError(f'--workdir={directory} holds no config.json: --config.* flags change a '
                    'trained model\'s config, so give --config=experiments/configs/<name>.py '
                    'to start a new run.')
  return experiment.read_config(directory, int(step) if step.isdigit() else None)
