"""Divergence detection for training: a diverged run never passes for a good one.

Every step's loss, gradient norm and parameter norm are checked against
running statistics before a checkpoint may be written: non-finite values, or
values `factor` times (loss, parameters) or factor^2 times (gradients) above
their running reference, stop the run. The reference of each is the lowest
value its exponential moving average of log(value) has reached, so a slow
rise over a long run is measured against the best the run has been.
"""

import dataclasses
import math
from typing import Dict, Optional

from audiodiff.errors import UserError


class DivergenceError(UserError):
  """Training diverged; the message names the step, figures and the fix."""


@dataclasses.dataclass
class _Reference:
  """The lowest EMA of log(value) seen so far."""
  decay: float = 0.9
  ema: Optional[float] = None
  lowest: Optional[float] = None

  def update(self, log_value: float) -> None:
    self.ema = log_value if self.ema is None else (
        self.decay * self.ema + (1 - self.decay) * log_value)
    self.lowest = self.ema if self.lowest is None else min(self.lowest, self.ema)


@dataclasses.dataclass
class DivergenceMonitor:
  """check(metrics) -> None, or a sentence saying what diverged.

  factor: how far above its reference the loss or the parameter norm may go
  (the gradient norm: factor squared, as its scale legitimately changes
  much more early in training).
  """
  factor: float = 100.0
  references: Dict[str, _Reference] = dataclasses.field(default_factory=dict)

  def start(self, param_norm: float) -> None:
    """Takes the parameters' norm before the first update as the reference,
    so that a first update that already explodes them is caught."""
    if math.isfinite(param_norm) and param_norm > 0:
      self.references.setdefault('param_norm', _Reference()).update(math.log(param_norm))

  def check(self, metrics) -> Optional[str]:
    limits = {'loss': self.factor, 'param_norm': self.factor,
              'grad_norm': self.factor ** 2}
    for name, limit in limits.items():
      value = float(metrics[name])
      if not math.isfinite(value):
        return f'{name} is {value}'
      if value <= 0:
        continue
      reference = self.references.setdefault(name, _Reference())
      log_value = math.log(value)
      if reference.lowest is not None and log_value > reference.lowest + math.log(limit):
        return (f'{name} {value:.3g} is over {limit:g}x its running reference '
                f'{math.exp(reference.lowest):.3g}')
    for name in limits:
      value = float(metrics[name])
      if value > 0:
        self.references[name].update(math.log(value))
    return None
