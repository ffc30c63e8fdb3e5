"""DiffWave BASE vocoder speed, measured as the PyTorch reference figures are.

  python benchmarks/diffwave_speed.py [--microbatches=8] [--compute_dtype=float32]
      [--matmul_dtype=compute] [--layers=auto] [--infer_batches=1,16]
      [--reference_src=CHECKOUT --reference_python=PYTHON]

Prints, all from this one run:
  - the machine's matmul ceiling in the products' operand dtype
    (--matmul_size^3 through XLA, accumulated in the compute dtype), GFLOP/s;
  - the train step (forward + backward + Adam, L1 on the noise) at batch
    16 x 15,872 samples (62 mel frames x hop 256), the batch's gradient
    accumulated over --microbatches slices (the same update; 8 is fastest on
    a 2-core CPU, 1 turns it off): median seconds, audio samples/s and the
    fraction of the matmul ceiling;
  - 6-step fast inference of 1.01 s of audio at each of --infer_batches (mel
    conditioner computed once): median seconds and the real-time factor
    (time / total audio duration of the batch);
  - under each, the seconds its matrix products alone take (every product
    shape timed on its own): the floor this formulation leaves, the rest
    being elementwise work and memory traffic.
With --reference_src (a checkout of lmnt-com/diffwave) and --reference_python
(a Python with torch, torchaudio, tqdm and tensorboard), the PyTorch reference
runs beside it in a child process (benchmarks/diffwave_reference.py) on the
same inputs' shapes, the two taking turns run by run, and each line also
prints the reference's median and the ratio. Without them the figures are
absolute only: a ratio to a reference figure means something only when both
ran in the same run on the same machine.
"""

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from audiodiff import data, models
from audiodiff.errors import run_script
from audiodiff.run import experiment, sampling, train
from audiodiff.models import diffwave
from experiments.configs import diffwave_vocoder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import Reference  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_integer('train_repeats', 3, 'Timed train steps (after one warm-up); 0 skips training.')
flags.DEFINE_integer('infer_repeats', 5, 'Timed inference runs (after one warm-up); 0 skips inference.')
flags.DEFINE_integer('batch_size', 16, 'Train batch.')
flags.DEFINE_integer('microbatches', 8, 'Gradient accumulation slices of the train batch.')
flags.DEFINE_integer('frames', 62, 'Mel frames per training example.')
flags.DEFINE_float('seconds', 1.01, 'Audio duration for inference.')
flags.DEFINE_enum('compute_dtype', 'float32', ['float32', 'bfloat16'],
                  'Compute dtype (parameters, optimizer and loss stay float32).')
flags.DEFINE_enum('matmul_dtype', 'compute', list(models.MATMUL_DTYPES),
                  "config.train.matmul_dtype ('bfloat16': bfloat16 operands, float32 "
                  'accumulation).')
flags.DEFINE_enum('layers', 'auto', models.DIFFWAVE_LAYERS,
                  "config.model.diffwave.formulation ('auto': the backend's choice).")
flags.DEFINE_list('infer_batches', ['1'], 'Inference batch sizes.')
flags.register_validator('infer_batches',
                         lambda v: v and all(s.isdigit() and int(s) >= 1 for s in v),
                         '--infer_batches takes whole numbers >= 1, e.g. 1,4.')
flags.DEFINE_integer('residual_layers', 30, 'DiffWave layers (30: BASE).')
flags.DEFINE_integer('residual_channels', 64, 'DiffWave channels (64: BASE).')
flags.DEFINE_integer('matmul_size', 4096, 'Side of the square matmul that measures the ceiling.')
flags.DEFINE_string('reference_src', None,
                    'Checkout of lmnt-com/diffwave: time the PyTorch reference in the same run.')
flags.DEFINE_string('reference_python', sys.executable,
                    'Python with torch for --reference_src (audiodiff does not need torch).')
flags.DEFINE_bool('products', True, "Print the matrix products' own time under each figure.")
FLAGS = flags.FLAGS


def timed(fn):
  """A runner: calls fn once and returns its seconds."""
  def run():
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
  return run


def median_seconds(runners, repeats):
  """Median seconds of each runner, warmed up once, taking turns run by run."""
  for run in runners:
    run()  # compile and warm up
  times = [[] for _ in runners]
  for _ in range(repeats):
    for run, seconds in zip(runners, times):
      seconds.append(run())
  return [float(np.median(seconds)) for seconds in times]


def compared(seconds, reference_seconds):
  """'' or the reference's median and the ratio; reference_seconds: [] or [median]."""
  if not reference_seconds:
    return ''
  reference_seconds, = reference_seconds
  return (f'; PyTorch reference median {reference_seconds:.3f} s, '
          f'ratio reference / audiodiff {reference_seconds / seconds:.2f}x')


def matmul_gflops(n, dtype, accumulate_dtype, repeats=5):
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
  matmul = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=accumulate_dtype))
  seconds, = median_seconds([timed(lambda: matmul(a, b).block_until_ready())], repeats)
  return 2 * n ** 3 / seconds / 1e9


def forward_flops_per_sample(config, with_mel_projection=True):
  """Matrix-product FLOPs of one DiffWave forward pass per audio sample."""
  c, layers = config.model.diffwave.residual_channels, config.model.diffwave.residual_layers
  mel = config.audio.n_mels * 2 * c if with_mel_projection else 0
  per_layer = 2 * (3 * c * 2 * c + mel + c * 2 * c)
  return layers * per_layer + 2 * (c + c * c + c)


def products_seconds(shapes, operand_dtype, accumulate_dtype, loops=8):
  """Seconds of the matrix products alone: shapes is [(count, m, k, n,
  transposed)], each an [m, k] x [k, n] product (transposed: the weight
  gradient's [k, m]^T x [k, n] form, contracting dim 0 of both) run count
  times; with mixed precision (operand dtype other than the accumulation
  dtype) a weight gradient is timed through the model's own
  `diffwave.kernel_gradient`. Each shape runs `loops` times in one compiled
  loop (its buffers reused, as in the model), and the time is scaled to
  count."""
  total = 0.0
  for count, m, k, n, transposed in shapes:
    a = jnp.ones((k, m) if transposed else (m, k), operand_dtype)
    b = jnp.ones((k, n), operand_dtype)
    dims = (((0,), (0,)), ((), ())) if transposed else (((1,), (0,)), ((), ()))

    def product(a, b, dims=dims, mixed=transposed and operand_dtype != accumulate_dtype):
      if mixed:
        return diffwave.kernel_gradient(a, b, accumulate_dtype)
      return jax.lax.dot_general(a, b, dims, preferred_element_type=accumulate_dtype)

    def repeated(a, b, product=product):
      def body(_, carry):
        b, _ = carry
        out = product(a, b)
        # One element of the next b depends on this output, so that XLA
        # cannot hoist the product out of the loop. (Updating the large
        # operand of a forward product instead cost a copy in bfloat16.)
        return b.at[0, 0].set(out[0, 0].astype(b.dtype)), out
      out = jnp.zeros((m, n), accumulate_dtype)
      return jax.lax.fori_loop(0, loops, body, (b, out))[1]

    compiled = jax.jit(repeated)
    seconds, = median_seconds([timed(lambda: compiled(a, b).block_until_ready())], 3)
    total += count * seconds / loops
  return total


def train_products(config, rows):
  """The train step's products per layer and microbatch of `rows` samples:
  forward (dilated conv, output conv, mel projection) and backward (each
  one's input and weight gradients)."""
  c, mels, layers = (config.model.diffwave.residual_channels, config.audio.n_mels,
                     config.model.diffwave.residual_layers)
  count = layers * FLAGS.microbatches
  return [(count, rows, 3 * c, 2 * c, False), (count, rows, c, 2 * c, False),
          (count, rows, mels, 2 * c, False),
          (count, rows, 2 * c, 3 * c, False), (count, rows, 2 * c, c, False),
          (count, rows, 2 * c, mels, False),
          (count, 3 * c, rows, 2 * c, True), (count, c, rows, 2 * c, True),
          (count, mels, rows, 2 * c, True)]


def inference_products(config, samples, num_steps):
  """The 6-step inference's products for `samples` audio samples: each
  step's dilated and output convs, and the mel projection once."""
  c, mels, layers = (config.model.diffwave.residual_channels, config.audio.n_mels,
                     config.model.diffwave.residual_layers)
  return [(num_steps * layers, samples, 3 * c, 2 * c, False),
          (num_steps * layers, samples, c, 2 * c, False),
          (layers, samples, mels, 2 * c, False)]


def time_train_step(exp, state, reference, peak):
  """Prints the train step's median (and the reference's) -> the trained state."""
  config = exp.config
  step = train.make_train_step(exp)
  rng = np.random.default_rng(0)
  batch = data.make_global_batch({
      'audio': (0.3 * rng.standard_normal((FLAGS.batch_size, config.data.segment_length))
                ).astype(np.float32)}, exp.mesh)
  holder = {'state': state}

  def one_step():
    holder['state'], metrics = step(holder['state'], batch, None)
    jax.block_until_ready(metrics)

  runners = [timed(one_step)] + ([reference.runner(op='train')] if reference else [])
  train_seconds, *reference_train = median_seconds(runners, FLAGS.train_repeats)
  samples = FLAGS.batch_size * config.data.segment_length
  train_flops = 3 * forward_flops_per_sample(config) * samples
  print(f'train step, batch {FLAGS.batch_size} x {config.data.segment_length} '
        f'in {FLAGS.microbatches} microbatch(es): '
        f'median {train_seconds:.2f} s, {samples / train_seconds:,.0f} audio samples/s, '
        f'{train_flops / train_seconds / 1e9:.1f} GFLOP/s = '
        f'{train_flops / train_seconds / 1e9 / peak:.0%} of the matmul ceiling'
        + compared(train_seconds, reference_train))
  if not FLAGS.products:
    return holder['state']
  rows = FLAGS.batch_size // FLAGS.microbatches * config.data.segment_length
  floor = products_seconds(train_products(config, rows), *product_dtypes())
  print(f'  its matrix products alone, each shape timed on its own: {floor:.2f} s '
        f'({floor / train_seconds:.0%} of the step; the rest is elementwise work and '
        'memory traffic)')
  return holder['state']


def product_dtypes():
  """(operand dtype, accumulation dtype) of the model's matrix products."""
  compute_dtype = models.COMPUTE_DTYPES[FLAGS.compute_dtype]
  return models.MATMUL_DTYPES[FLAGS.matmul_dtype] or compute_dtype, compute_dtype


def main(argv):
  del argv
  config = diffwave_vocoder.get_config()
  config.data.segment_length = FLAGS.frames * config.audio.hop_length
  config.train.batch_size = FLAGS.batch_size
  config.train.microbatches = FLAGS.microbatches
  config.train.compute_dtype = FLAGS.compute_dtype
  config.train.matmul_dtype = FLAGS.matmul_dtype
  config.model.diffwave.formulation = FLAGS.layers
  config.model.diffwave.residual_layers = FLAGS.residual_layers
  config.model.diffwave.residual_channels = FLAGS.residual_channels
  exp = experiment.build(config, '/tmp/audiodiff_benchmark')   # the settings checked first
  train.check_microbatches(config.train, jax.device_count())
  reference = None
  if FLAGS.reference_src:
    reference = Reference(FLAGS.reference_src, FLAGS.reference_python, config,
                          FLAGS.batch_size, FLAGS.frames)
    print(f'PyTorch reference from {FLAGS.reference_src}: torch {reference.info["torch"]}, '
          f'{reference.info["threads"]} threads, {reference.info["parameters"] / 1e6:.2f} M '
          'parameters, taking turns with audiodiff run by run')
  else:
    print('absolute figures only (no --reference_src: no reference run in this process tree)')
  device = jax.devices()[0]
  print(f'device: {device.platform} {device.device_kind}, {jax.device_count()} device(s), '
        f'{os.cpu_count()} CPU cores')
  n = FLAGS.matmul_size
  operand_dtype, accumulate_dtype = product_dtypes()
  peak = matmul_gflops(n, operand_dtype, accumulate_dtype)
  print(f'{jnp.dtype(operand_dtype).name} matmul ceiling ({n}^3, accumulated in '
        f'{FLAGS.compute_dtype}): {peak:.1f} GFLOP/s')

  state = exp.init_state()
  num_params = sum(x.size for x in jax.tree.leaves(state.params))
  print(f'DiffWave: {config.model.diffwave.residual_layers} layers, '
        f'{config.model.diffwave.residual_channels} channels, {num_params / 1e6:.2f} M parameters, '
        f'{FLAGS.compute_dtype} compute, matmul operands: {FLAGS.matmul_dtype}, '
        'layers (train, sample): ' + ', '.join(models.diffwave_layers(FLAGS.layers)))

  rng = np.random.default_rng(0)
  if FLAGS.train_repeats:
    state = time_train_step(exp, state, reference, peak)

  # 6-step fast inference.
  frames = int(round(FLAGS.seconds * config.audio.sample_rate / config.audio.hop_length))
  duration = frames * config.audio.hop_length / config.audio.sample_rate
  generate_fn = sampling.make_generate_fn(exp)
  params = state.ema_params
  num_steps = exp.sampler.num_evals
  # The mel projection runs once per utterance, the rest at every step.
  once = forward_flops_per_sample(config) - forward_flops_per_sample(config, False)
  for batch_size in map(int, FLAGS.infer_batches if FLAGS.infer_repeats else ()):
    request = exp.task.request_from_mel(
        rng.uniform(0, 1, (batch_size, frames, config.audio.n_mels)),
        [f'benchmark_{i}' for i in range(batch_size)])
    runners = [timed(lambda: generate_fn(params, jax.random.PRNGKey(0), 0, request.cond, None,
                                         None, shape=request.shape).block_until_ready())]
    if reference:
      runners.append(reference.runner(op='infer', batch=batch_size, frames=frames))
    infer_seconds, *reference_infer = median_seconds(runners, FLAGS.infer_repeats)
    samples = batch_size * frames * config.audio.hop_length
    infer_flops = (num_steps * forward_flops_per_sample(config, False) + once) * samples
    rtf = infer_seconds / (batch_size * duration)
    print(f'{num_steps}-step fast inference of {duration:.2f} s (batch {batch_size}): median '
          f'{infer_seconds:.3f} s, real-time factor {rtf:.4f}, '
          f'{infer_flops / infer_seconds / 1e9:.1f} GFLOP/s = '
          f'{infer_flops / infer_seconds / 1e9 / peak:.0%} of the matmul ceiling'
          + compared(infer_seconds, reference_infer))
    if not FLAGS.products:
      continue
    floor = products_seconds(inference_products(config, samples, num_steps),
                             operand_dtype, accumulate_dtype)
    print(f'  its matrix products alone, each shape timed on its own: {floor:.3f} s '
          f'({floor / infer_seconds:.0%} of the run)')
  if reference:
    reference.close()


if __name__ == '__main__':
  run_script(main)
