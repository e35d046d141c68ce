#!/usr/bin/env bash
# The prepared GPU check (issue 22): the CUDA tests, then the study's image scenario, a full
# fine-tuning ranking of a ResNet-18 (seeded torchvision resnet18(), no downloaded weights) on
# 300 generated pictures of 10 classes at 224 px, 10 epochs of AdamW (lr 1e-3, weight decay
# 0.005), one seed's 300 counterfactuals, stacked with torch.func as memory allows
# (bench/gpu_ranking.py). It prints models per second, the peak GPU memory and the time of a full
# ranking with 3 seeds, and needs nothing from outside. Meant to finish in under 8 minutes on one
# H200.
#
#   bench/gpu_check.sh                    # on a GPU machine
#   GPU_CHECK_TINY=1 bench/gpu_check.sh   # on the CPU, tiny: 20 pictures, 32 px, 1 epoch (CI, ~30 s)
#
# Any size can be set instead: GPU_CHECK_IMAGES, GPU_CHECK_TEST, GPU_CHECK_SIZE, GPU_CHECK_EPOCHS,
# GPU_CHECK_DEVICE (cuda, cpu, auto), GPU_CHECK_STACK (auto or a number of networks per unit).
# GPU_CHECK_OUT=DIR also writes the test log and the ranking's JSON line there. PYTHON picks the
# interpreter (default: .venv/bin/python where it exists, else python3).
# The exit status is the tests' where the ranking ran, else the ranking's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -n "${PYTHON:-}" ]; then py=$PYTHON; elif [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "${GPU_CHECK_TINY:-0}" = 1 ]; then
  images=20 test=10 size=32 epochs=1 device=cpu
else
  images=300 test=100 size=224 epochs=10 device=cuda
fi
images=${GPU_CHECK_IMAGES:-$images}
test=${GPU_CHECK_TEST:-$test}
size=${GPU_CHECK_SIZE:-$size}
epochs=${GPU_CHECK_EPOCHS:-$epochs}
device=${GPU_CHECK_DEVICE:-$device}
stack=${GPU_CHECK_STACK:-auto}
out=${GPU_CHECK_OUT:-}
[ -z "$out" ] || mkdir -p "$out"
started=$(date +%s)

echo "== gpu_check: $("$py" --version 2>&1) at $py"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# 1. The CUDA tests: every test marked gpu (skipped, with the reason, where torch sees no GPU).
files=$(grep -rl --include='*.py' 'pytest.mark.gpu' tests | sort)
echo "== gpu_check: CUDA tests (-m gpu) in" $files
tests_rc=0
if [ -n "$out" ]; then
  "$py" -m pytest -q -rs -m gpu -p no:cacheprovider $files 2>&1 | tee "$out/gpu_tests.log" || tests_rc=${PIPESTATUS[0]}
else
  "$py" -m pytest -q -rs -m gpu -p no:cacheprovider $files || tests_rc=$?
fi
echo "== gpu_check: CUDA tests exit status $tests_rc after $(( $(date +%s) - started )) s"

# 2. The ranking, through the product's recipe and engine.
echo "== gpu_check: resnet18 full fine-tuning ranking: $images pictures, $test tests, $size px, $epochs epochs, device $device, stack $stack"
"$py" bench/gpu_ranking.py --images "$images" --test "$test" --size "$size" --epochs "$epochs" --device "$device" \
  --stack "$stack" ${out:+--out "$out/gpu_ranking.json"}

echo "== gpu_check: done in $(( $(date +%s) - started )) s"
exit "$tests_rc"
