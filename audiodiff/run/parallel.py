"""Device mesh, shardings and multi-process start-up.

One code path serves 1 device, N local devices (real, or fake CPU devices via
XLA_FLAGS=--xla_force_host_platform_device_count=N) and several hosts: the
batch is sharded along the mesh axis 'data', parameters are replicated.
"""

import os

import jax
from jax.sharding import NamedSharding, PartitionSpec as P
from absl import logging


def maybe_initialize_distributed() -> None:
  """Calls jax.distributed.initialize() when launched as several processes.

  launch.sh sets AUDIODIFF_COORDINATOR, AUDIODIFF_NUM_PROCESSES and
  AUDIODIFF_PROCESS_ID for local multi-process runs; on clusters (SLURM, TPU
  pods, ...) jax.distributed.initialize() finds its settings by itself when
  AUDIODIFF_DISTRIBUTED=1.
  """
  if 'AUDIODIFF_COORDINATOR' in os.environ:
    jax.distributed.initialize(
        coordinator_address=os.environ['AUDIODIFF_COORDINATOR'],
        num_processes=int(os.environ['AUDIODIFF_NUM_PROCESSES']),
        process_id=int(os.environ['AUDIODIFF_PROCESS_ID']))
  elif os.environ.get('AUDIODIFF_DISTRIBUTED') == '1':
    jax.distributed.initialize()
  else:
    return
  logging.info('Process %d of %d, %d local / %d global devices.',
               jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


def make_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over every device, axis 'data'.

  Auto axes: XLA propagates the shardings (the batch stays split along 'data'
  through the model, parameters replicated) without annotating every op.
  """
  return jax.make_mesh((jax.device_count(),), ('data',),
                       axis_types=(jax.sharding.AxisType.Auto,))


def data_sharding(mesh) -> NamedSharding:
  """Batch axis split over 'data'."""
  return NamedSharding(mesh, P('data'))


def replicated(mesh) -> NamedSharding:
  """The same full copy on every device."""
  return NamedSharding(mesh, P())
