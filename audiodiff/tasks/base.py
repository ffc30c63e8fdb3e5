"""The task interface: everything one capability knows, in one place.

A task turns batches into the diffusion term's inputs, adds its own loss
terms, says what to sample and how to turn samples into audio and metrics.
The run loop, the samplers and the models never ask which task they serve.

    task = tasks.get_task(config)              # config.task names the module
    batch = next(data.get_dataset(config, 'train', features=task.features))
    inputs = task.diffusion_inputs(batch, rng, train=True)
    request = task.sample_request(num_samples, reference_batch)

A new task subclasses `Task`, overrides what differs and registers itself
with `@tasks.TASKS.register('<name>')` on its class in `audiodiff/tasks/<name>.py`.
"""

import dataclasses
import functools
from typing import Any, Dict, Optional, Sequence

import jax
import numpy as np

from audiodiff import data
from audiodiff.errors import UserError


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=('x0', 'cond', 'prior', 'mask', 'aux'), meta_fields=())
@dataclasses.dataclass
class DiffusionInputs:
  """What the diffusion term trains on, for a batch of B examples.

  x0: [B, ...] the diffusion target (waveform, mel, latent);
  cond: the network's conditioning (a dict of arrays) or None;
  prior: an optional samplers.Prior (mean, scale shaped like x0);
  mask: optional [B, ...] 0/1, where the loss counts (padding excluded);
  aux: anything else the task's extra_losses read (e.g. an alignment).
  """
  x0: Any
  cond: Any = None
  prior: Any = None
  mask: Any = None
  aux: Any = None


@dataclasses.dataclass
class SampleRequest:
  """What to sample: N outputs of `shape`, named `names`.

  cond / uncond: conditioning of the conditional and unconditional passes
  (uncond None: no classifier-free guidance possible); prior: optional
  samplers.Prior; reference: optional [N, L] audio the samples recreate
  (vocoding), for metrics and side-by-side files.
  """
  shape: tuple
  names: Sequence[str]
  cond: Any = None
  uncond: Any = None
  prior: Any = None
  reference: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class FrozenRun:
  """Another trained run a task needs: config.<task>.<option> names its
  directory (a path inside the work directory first, else as given);
  how_to_train is said when there is none."""
  option: str
  how_to_train: str


class Task:
  """Defaults shared by every task; subclasses override what differs.

  Attributes:
    name: the config.task value.
    features: the batch features the task reads (see data.FEATURES).
    api_methods: task-specific methods `audiodiff.load(...)` exposes, each
      `method(trained, ...)` on the task.
    output_fix: what to tell a user whose input made broken audio (NaN,
      mostly clipped); '' for the default (settings or model).
  """
  name = ''
  features: Sequence[str] = ('audio',)
  api_methods: Sequence[str] = ()
  output_fix = ''

  def __init__(self, config):
    self.config = config

  # ---- configuration --------------------------------------------------------
  @property
  def settings(self):
    """This task's config section, config.<name>."""
    return self.config[self.name]

  def check_config(self) -> None:
    """Fails early, with the fix, on settings the task cannot run with.
    Runs before anything is created on disk."""
    if self.config.sampler.guidance_scale != 1.0 and not self.supports_guidance():
      raise UserError(
          f'config.sampler.guidance_scale={self.config.sampler.guidance_scale} needs '
          f'an unconditional pass, which task {self.name!r} with these settings does not '
          'have. Set --config.sampler.guidance_scale=1.')

  def resolve_config(self) -> None:
    """Fills settings that depend on the data (e.g. the class count)."""

  def supports_guidance(self) -> bool:
    return False

  def model_inputs(self) -> Dict[str, int]:
    """Which inputs the network reads: kwargs of models.get_model
    (num_classes, n_mels)."""
    return {}

  def uses_diffusion(self) -> bool:
    """False for a predictive baseline: no diffusion loss term, and sampling
    is `predict` on request.prior.mean (the measurement)."""
    return True

  def predict(self, apply_fn, measurement, cond):
    """A predictive baseline's output for `measurement` [B, ...]: one
    network call at t = 0 (a task may post-process it, e.g. as a mask)."""
    return apply_fn(measurement, jax.numpy.zeros(measurement.shape[:1]), cond)

  def loss_weights(self) -> Dict[str, float]:
    """Weight of each of `extra_losses`' terms (the diffusion term has 1)."""
    return {}

  # ---- other trained runs ---------------------------------------------------
  def frozen_runs(self) -> Dict[str, 'FrozenRun']:
    """The other trained runs this task uses frozen (a vocoder, an encoder, a
    predictor), by name. The run layer loads each (an api.Trained), hands
    them to `attach_frozen`, and copies them into exports as <export>/<name>.
    Default: none."""
    return {}

  def attach_frozen(self, runs: Dict[str, Any], workdir: str):
    """Checks that the loaded `runs` fit this config and keeps them; returns
    the frozen parameters passed to every method below (None when none)."""
    del runs, workdir
    return None

  def write_export_files(self, directory: str) -> None:
    """Files the task adds to an export at `directory` beside the copies of
    its frozen runs (e.g. a fitted latent scaling). Default: none."""
    del directory

  # ---- training -------------------------------------------------------------
  def data_transforms(self, split: str):
    """Grain RandomMaps run on each preprocessed example (e.g. noise mixing),
    each with a `produces` tuple naming the features it adds."""
    del split
    return ()

  def init_variables(self, model, rng, frozen=None):
    """Fresh parameters of `model` for the task's example batch (a model
    with parts beyond the denoiser overrides this to touch them all)."""
    inputs = self.diffusion_inputs(
        jax.tree.map(jax.numpy.asarray, self.example_batch()), jax.random.PRNGKey(0),
        train=False, frozen=frozen)
    x0 = inputs.x0
    return model.init(rng, x0, jax.numpy.zeros((x0.shape[0],)), inputs.cond)['params']

  def diffusion_inputs(self, batch, rng, *, train: bool, frozen=None,
                       network=None) -> DiffusionInputs:
    """A batch -> the diffusion term's inputs (default: unconditional audio).

    network: `network(method, *args)` runs a method of the model (e.g. a
    text encoder) with the parameters being trained, for tasks whose
    conditioning the model computes itself.
    """
    del rng, train, frozen, network
    return DiffusionInputs(x0=batch['audio'])

  def extra_losses(self, apply_fn, batch, inputs: DiffusionInputs, rng, *, train: bool,
                   frozen=None, step=None) -> Dict[str, Any]:
    """The task's own loss terms beside the diffusion term: name -> scalar,
    each weighted by `loss_weights()[name]` and logged as loss/<name>.
    apply_fn is the network's (x, t, cond) -> prediction; step the training
    step (an int32 scalar; None outside training), for terms that start late."""
    del apply_fn, batch, inputs, rng, train, frozen, step
    return {}

  def example_batch(self, batch_size: int = 1):
    """A batch of zeros with the features' shapes, to initialise the model."""
    return data.example_batch(self.config, self.features, batch_size)

  # ---- sampling and evaluation ---------------------------------------------
  def sample_request(self, num_samples: int, reference_batch=None,
                     network=None) -> SampleRequest:
    """What evaluation samples: here unconditional clips of segment_length.
    network: as in diffusion_inputs, with the parameters being sampled."""
    del reference_batch, network
    return SampleRequest(shape=(num_samples, self.config.data.segment_length),
                         names=[f'sample_{i:03d}' for i in range(num_samples)])

  def needs_reference(self) -> bool:
    """Whether sample_request reads reference audio from the test split."""
    return False

  def decode(self, x, frozen=None):
    """Samples [N, ...] -> audio [N, L] (identity for waveform tasks)."""
    del frozen
    return x

  def run_request(self, trained, request: SampleRequest, rng, first: int = 0):
    """Audio [N, L] for a request: the network's samples (trained.generate,
    output i from key fold_in(rng, first + i)), decoded. A task whose
    outputs take more than one sampler run (music longer than a window)
    overrides it."""
    return self.decode(trained.generate(request, rng, first), trained.frozen)

  def sample_metrics(self, audio, request: SampleRequest) -> Dict[str, Any]:
    """Objective metrics of decoded samples against request.reference."""
    del audio, request
    return {}

  def held_out_metrics(self, trained) -> Dict[str, Any]:
    """The task's own benchmark for --mode=eval (e.g. enhancement of a fixed
    held-out set against baselines); {} when it has none."""
    del trained
    return {}

