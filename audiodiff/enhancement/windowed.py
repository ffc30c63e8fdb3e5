"""Enhancing recordings of any length window by window, in bounded memory.

    for index, block in enhanced_blocks(run, recordings, window=..., ...):
      ...   # the recordings' outputs, in order, a block at a time

A recording (`ArraySource`, `streams.FileSource`: length, rms(), blocks())
is scaled to the enhancer's input level and read in windows of `window`
samples that overlap by `overlap`, cross-faded linearly; a recording shorter
than a window is extended by its mirror image (zeros would read as a noise
floor of nothing, and the network then keeps the noise: a 1 s clip in white
noise scores 5 dB SI-SDR zero-padded, 15 dB mirrored). With `delays`
(d_0 = 0 < d_1 < ... < one hop), the recording is enhanced once per delay,
each copy delayed by d_k samples filled with its own mirror image, and the
copies are averaged. Windows go to run(clips [B, window], first) ->
enhanced [B, window] `batch` at a time, in the order (recording, window,
delay), window i of the whole list drawing noise key `first + i`; windows of
consecutive recordings share batches. Each output block is yielded as soon as
no later window reaches it: memory holds one batch of windows, the samples
they span, and their overlaps, however long the recordings.
"""

import dataclasses

import numpy as np

from audiodiff.audio import audio_io, streams, windows


@dataclasses.dataclass
class ArraySource:
  """A recording in memory, float32 [L], as a source of blocks."""
  audio: np.ndarray

  @property
  def length(self) -> int:
    return len(self.audio)

  def rms(self) -> float:
    return audio_io.rms(self.audio)

  def blocks(self):
    yield self.audio


class _Copy:
  """One delayed copy of a recording: its windows and their running join.

  The copy is the recording delayed by `delay` samples (mirror-filled),
  extended by its mirror image to a whole number of frames (at least a
  window); its windows start on the frame grid of `windows.window_starts`."""

  def __init__(self, tape, delay, window, overlap, hop, fade):
    self.tape, self.delay = tape, delay
    frames = max(-(-(tape.length + delay) // hop), window // hop)
    self.padded_length = frames * hop
    self.starts = [s * hop for s in windows.window_starts(frames, window // hop, overlap // hop)]
    self.window, self.fade = window, fade
    self.join = windows.RunningOverlapAdd()
    self.added = 0                 # windows added to the join
    self.taken = 0                 # samples of the copy taken from the join
    self._short = None
    if tape.length < window + hop:  # short: mirrored several times, built whole
      delayed = np.pad(tape.held, (delay, 0), mode='symmetric')
      self._short = np.pad(delayed, (0, self.padded_length - len(delayed)), mode='symmetric')

  def clip(self, index):
    """The copy's samples [start, start + window) of window `index`."""
    start = self.starts[index]
    if self._short is not None:
      return self._short[start:start + self.window]
    length, tape = self.tape.length, self.tape
    tape.read_to(start + self.window - self.delay)
    # Copy sample p is recording sample p - delay, mirrored at both ends.
    p = np.arange(start, start + self.window) - self.delay
    p = np.where(p < 0, -p - 1, p)
    p = np.where(p >= length, 2 * length - 1 - p, p)
    return tape.held[p - tape.base]

  def add(self, index, piece):
    start = self.starts[index]
    taper = windows.linear_taper(self.window, self.fade if len(self.starts) > 1 else 0,
                                 fade_in=start > 0,
                                 fade_out=start + self.window < self.padded_length)
    self.join.add(start, piece, taper)
    self.added += 1

  @property
  def final(self) -> int:
    """Recording samples [0, final) that no window still to come reaches."""
    reach = self.starts[self.added] if self.added < len(self.starts) else self.padded_length
    return min(reach - self.delay, self.tape.length)

  def take(self, upto):
    """The copy's enhancement of recording samples [taken, upto) (scaled)."""
    out = self.join.take(upto + self.delay)
    if self.taken < self.delay:   # the copy's first delay samples are its mirror fill
      out = out[self.delay - self.taken:]
    self.taken = upto + self.delay
    return out


class _Recording:
  """A recording's copies (one per delay) and what of it was yielded."""

  def __init__(self, index, source, gain, delays, window, overlap, hop):
    self.index, self.gain = index, gain
    self.tape = streams.Tape((block * gain for block in source.blocks()), source.length)
    if source.length < window + hop:   # short: read whole
      self.tape.read_to(source.length)
    self.copies = [_Copy(self.tape, d, window, overlap, hop, overlap) for d in delays]
    self.done = 0                  # recording samples yielded

  def windows(self):
    """(copy, window index) in the order: window by window, delay by delay."""
    for i in range(max(len(c.starts) for c in self.copies)):
      for copy in self.copies:
        if i < len(copy.starts):
          yield copy, i

  def finished_block(self):
    """The averaged output of the samples no window still to come reaches,
    float32 [n] (unscaled); None when there are none."""
    end = min(copy.final for copy in self.copies)
    if end <= self.done:
      return None
    total = None   # float64: exact for equal estimates
    for copy in self.copies:
      estimate = (copy.take(end) / self.gain).astype(np.float32)
      total = estimate.astype(np.float64) + (0.0 if total is None else total)
    self.done = end
    self.tape.drop_before(min(c.starts[c.added] - c.delay if c.added < len(c.starts)
                              else self.tape.length for c in self.copies))
    return (total / len(self.copies)).astype(np.float32)

  @property
  def complete(self):
    return self.done >= self.tape.length


def enhanced_blocks(run, recordings, *, input_rms, window, overlap, hop, delays=(0,),
                    batch=4):
  """Yields (recording index, enhanced float32 [n]) for each recording
  (sources with length, rms() and blocks()), in order, blocks of one
  recording concatenating to its enhancement [L] (see the module's doc).
  window and overlap are whole numbers of hops."""
  active, queue, first = [], [], 0

  def run_queue():
    nonlocal first
    pieces = run(np.stack([copy.clip(i) for _, copy, i in queue]), first)
    for (_, copy, i), piece in zip(queue, pieces):
      copy.add(i, piece)
    first += len(queue)
    queue.clear()

  def finished():
    while active:
      recording = active[0]
      block = recording.finished_block()
      if block is not None:
        yield recording.index, block
      if not recording.complete:
        return
      active.pop(0)

  for index, source in enumerate(recordings):
    recording = _Recording(index, source, input_rms / source.rms(), delays, window, overlap,
                           hop)
    active.append(recording)
    for copy, i in recording.windows():
      queue.append((recording, copy, i))
      if len(queue) == batch:
        run_queue()
        yield from finished()
  if queue:
    run_queue()
  yield from finished()
