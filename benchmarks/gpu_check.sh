#!/usr/bin/env bash
# One prepared GPU check, under 8 minutes on a lent H100/H200:
#   1. installs the project (.[cuda12,dev] where a package index answers; on
#      an offline machine the image's own CUDA jax plus the wheels in .whl/);
#   2. runs the core tests on the GPU (float32 matmuls at 'highest' precision,
#      so the closed-form tolerances mean what they mean on CPU);
#   3. DiffWave BASE: train throughput (audio samples/s, fraction of the
#      measured matmul ceiling) and 6-step inference RTF at batch 1 and 16,
#      float32 and bfloat16, for the CPU-tuned formulation (scan over layers,
#      remat; with and without 8 microbatches) and the plain unrolled one;
#   4. the quickstart's training steps/s through experiments/main.py.
#
#   bash benchmarks/gpu_check.sh          # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry    # on CPU, tiny sizes: checks every command runs
#
# Every line of output also goes to $OUT/gpu_check.log (OUT defaults to
# /tmp/audiodiff_gpu_check). A failing step is reported, the rest still run,
# and the exit status is 1 if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

dry=0
[ "${1:-}" = "--dry" ] && dry=1
out="${OUT:-/tmp/audiodiff_gpu_check}"
mkdir -p "$out"
log="$out/gpu_check.log"
: > "$log"
python="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false

failed=""
say() { echo "$@" | tee -a "$log"; }
# step SECONDS NAME COMMAND...: runs COMMAND under a time limit, logs it.
step() {
  local limit="$1" name="$2"; shift 2
  say "== $name"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$log" | grep -v '^\s*$' | tail -n 40
  local rc=${PIPESTATUS[0]}
  say "-- $name: exit $rc after $((SECONDS - start)) s"
  [ "$rc" = 0 ] || failed="$failed; $name"
}

if [ "$dry" = 1 ]; then
  say "dry mode: CPU, tiny sizes"
  export JAX_PLATFORMS=cpu
else
  if [ -d .whl ]; then  # offline machine: the image's jax, the missing pure deps as wheels
    "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      2>&1 | tail -n 3 | tee -a "$log"
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  else
    "$python" -m pip install -q -e '.[cuda12,dev]' 2>&1 | tail -n 3 | tee -a "$log"
  fi
  nvidia-smi -L 2>&1 | tee -a "$log"
fi
step 60 "environment" "$python" -c "
import jax, flax, optax, orbax.checkpoint as ocp
print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__)
print('devices:', jax.devices())"

# 2. Tests.
core_tests="tests/test_schedules.py tests/test_diffusion.py tests/test_samplers.py
  tests/test_sampler_prior_hooks.py tests/test_models.py tests/test_metrics.py
  tests/test_spectral.py tests/test_train.py tests/test_checkpoint.py"
if [ "$dry" = 1 ]; then
  step 60 "tests (collection only)" "$python" -m pytest -q --collect-only -p no:cacheprovider $core_tests
else
  JAX_DEFAULT_MATMUL_PRECISION=highest step 200 "tests on the GPU" \
    "$python" -m pytest -q -p no:cacheprovider -n 8 $core_tests
fi

# 3. DiffWave.
if [ "$dry" = 1 ]; then
  size="--residual_layers=2 --residual_channels=8 --frames=4 --batch_size=2 --seconds=0.05
        --train_repeats=1 --infer_repeats=1 --matmul_size=128 --infer_batches=1,2"
  variants=("--layers=scan --microbatches=2")
else
  size="--matmul_size=8192 --train_repeats=5 --infer_repeats=5 --infer_batches=1,16"
  # The products-alone floor once, for the first variant: the budget is 8 minutes.
  variants=("--layers=scan --microbatches=8"
            "--layers=scan --microbatches=1 --noproducts"
            "--layers=unrolled --microbatches=1 --noproducts"
            "--layers=scan --microbatches=1 --compute_dtype=bfloat16 --noproducts"
            "--layers=unrolled --microbatches=1 --compute_dtype=bfloat16 --noproducts")
fi
for variant in "${variants[@]}"; do
  step 100 "DiffWave $variant" "$python" benchmarks/diffwave_speed.py $size $variant
done

# 4. Quickstart.
workdir="$(mktemp -d)"
if [ "$dry" = 1 ]; then
  quick="--config.train.num_steps=4 --config.train.log_every=2 --config.data.num_examples=16
         --config.train.batch_size=4 --config.model.unet1d.channels=(4,8)"
else
  quick="--config.train.num_steps=1500 --config.train.log_every=500"
fi
step 150 "quickstart training" "$python" experiments/main.py \
  --config=experiments/configs/quickstart.py --workdir="$workdir" $quick \
  --config.train.eval_every=1000000 --config.train.sample_every=1000000 \
  --config.train.checkpoint_every=1000000
rm -rf "$workdir"

say "== summary"
grep -E '^(device|DiffWave|[a-z0-9]+ matmul ceiling|train step|  its matrix products|[0-9]+-step fast|step [0-9]+/)|passed|failed' \
  "$log" | tee "$out/gpu_check_summary.txt"
if [ -n "$failed" ]; then
  say "FAILED:${failed#;}"
  exit 1
fi
