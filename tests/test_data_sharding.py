"""make_global_batch on 8 fake CPU devices.

XLA reads --xla_force_host_platform_device_count only when jax first starts,
so the check runs in a fresh interpreter whose environment sets it.
"""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))

SCRIPT = textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from audiodiff.data import pipeline
    from experiments.configs import tiny

    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((8,), ('data',))

    # A hand-made per-process batch.
    local = {'audio': np.arange(16 * 32, dtype=np.float32).reshape(16, 32),
             'label': np.arange(16, dtype=np.int32)}
    batch = pipeline.make_global_batch(local, mesh)
    for key, x in batch.items():
      assert isinstance(x, jax.Array)
      assert x.shape == local[key].shape, (key, x.shape)
      assert x.sharding.is_equivalent_to(NamedSharding(mesh, P('data')), x.ndim)
      assert len(x.addressable_shards) == 8
      assert {s.data.shape[0] for s in x.addressable_shards} == {2}
      np.testing.assert_array_equal(np.asarray(x), local[key])

    # End to end from the pipeline.
    config = tiny.get_config()
    config.data.data_dir = sys.argv[1]
    config.audio.sample_rate = 8000
    config.data.segment_length = 512
    config.data.num_examples = 16
    config.train.batch_size = 8
    batch = pipeline.make_global_batch(
        next(iter(pipeline.get_dataset(config, 'train', mesh=mesh))), mesh)
    assert batch['audio'].shape == (8, 512) and batch['label'].shape == (8,)
    assert batch['audio'].sharding.spec == P('data')

    # A batch the devices cannot split evenly is refused with a clear message.
    config.train.batch_size = 12
    try:
      pipeline.get_dataset(config, 'train', mesh=mesh)
    except ValueError as e:
      assert 'batch_size=12' in str(e) and '8 devices' in str(e), e
    else:
      raise AssertionError('batch 12 on 8 devices was accepted')
    print('SHARDING_OK')
""")


def test_make_global_batch_on_8_fake_devices(tmp_path):
  env = dict(os.environ)
  env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') +
                      ' --xla_force_host_platform_device_count=8').strip()
  env['JAX_PLATFORMS'] = 'cpu'
  env['PYTHONPATH'] = os.pathsep.join(
      p for p in (ROOT, env.get('PYTHONPATH')) if p)
  result = subprocess.run(
      [sys.executable, '-c', SCRIPT, str(tmp_path / 'tfds')], cwd=ROOT,
      env=env, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0 and 'SHARDING_OK' in result.stdout, (
      result.stdout[-3000:] + result.stderr[-5000:])
