#!/usr/bin/env bash
# Every GPU measurement in one command, without Ray and without the package installed:
#
#   bench/gpu_suite.sh <out_dir> [--device cpu]
#
# Needs torch, torchaudio, torchvision, timm, scikit-learn, tensorboard, soundfile, numpy and
# PyYAML (pytest and hypothesis for the CUDA tests); not ray, not optuna. Runs from any folder:
# the repository goes on PYTHONPATH. Writes one table per measurement into <out_dir>:
#
# soundfile (birdsong is written and decoded as OGG) is the one package a bare GPU image lacks:
# when it cannot be imported, the wheels in $SSL_SEARCH_WHEELS (default <repo>/.whl: soundfile,
# cffi, pycparser for the machine's Python) are installed into a throwaway folder first. Fetch
# them once on a machine with pip (for a Python 3.12 GPU image; .gitignore keeps .whl/ out of git):
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
#
# and on the GPU machine (the device tool: carry [".whl"], timeout_s 570; only the tables come back):
#
#   bench/gpu_suite.sh /tmp/suite; s=$?; cp /tmp/suite/*.txt "$OUT"/; exit $s
#
#   environment.txt  packages, GPU, data preparation (generation and decoding with every core)
#   loader.txt       bench/loader.py: samples/s of one loader worker and of the device path
#   resnet18.txt     bench/pipeline.py, ResNet-18 SimCLR, batch 256, 5 s at 32 kHz, 128 mel, MFU
#   methods.txt      bench/pipeline.py, every method at the defaults (resnet10t, batch 64, 2 s, 16 kHz)
#   train.txt        python -m ssl_core.train --method simclr --data birdsong (the default 20 epochs)
#   budget.txt       bench/budget_curve.py: SimCLR on birdsong for 380 optimiser steps (20 epochs x 2
#                    windows per recording), test kNN every 2 epochs against fixed-feature kNN and the
#                    logistic regression on them: the steps and seconds a GPU needs to beat the one and
#                    approach the other
#   cuda_tests.txt   the CUDA-parametrised tests (-k cuda)
#   views.txt        (CUDA only, last, at most 150 s) bench/views.py --compile: the view maker eager
#                    vs torch.compile at the defaults, and its op profile
#   summary.txt      each part's exit status and wall time
#
# ResNet-18's train split of birdsong-x16 at 32 kHz is about 3.7 GB decoded, over the default
# data.device_data_gb=2: the suite gives it 8 GB (with the evaluation batches, about 6.3 GB are held
# on the GPU); the methods at 16 kHz run at the defaults (train split 1.85 GB held; evaluation
# batches, another ~0.5 GB, then exceed the 2 GB and stay in loaders).
#
# The benchmarks use birdsong-x16 (~5,800 train recordings at split 0.8/0.1/0.1: 22 steps per
# epoch at batch 256, 90 at batch 64), so epochs are as long as a real data set's. Target: under
# 8 minutes on one GPU once the data is generated (the first run generates and decodes it).
#
# --device cpu: a smoke run of the same parts at tiny sizes (birdsong, batch 8, 0.5 s crops, one
# round), to check the suite end to end on a machine without a GPU (tests/test_gpu_suite.py).
set -u -o pipefail

if [[ $# -lt 1 || $1 == -* ]]; then
  echo "usage: $0 <out_dir> [--device cpu]" >&2
  exit 2
fi
out=$1
shift
device=cuda
setup_only=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --device) device=${2:?--device needs cuda or cpu}; shift 2 ;;
    --stop-after-setup) setup_only=1; shift ;;  # check and install the packages, run nothing (tests)
    *) echo "unknown argument $1; usage: $0 <out_dir> [--device cpu]" >&2; exit 2 ;;
  esac
done
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$repo" || exit 2

if ! "$py" -c "import soundfile" 2> /dev/null; then
  wheels=${SSL_SEARCH_WHEELS:-$repo/.whl}
  if ! compgen -G "$wheels/*.whl" > /dev/null; then
    echo "soundfile cannot be imported and $wheels holds no wheels; fetch soundfile, cffi and pycparser" \
         "as wheels into $wheels (the pip download command in this script's header) or pip install soundfile" >&2
    exit 2
  fi
  site=$(mktemp -d "${TMPDIR:-/tmp}/ssl-search-site.XXXXXX")
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl \
    || { echo "installing the wheels of $wheels into $site failed (wheels for another Python?)" >&2; exit 2; }
  export PYTHONPATH="$site:$PYTHONPATH"  # first: ahead of anything that shadows soundfile
  "$py" -c "import soundfile" || { echo "soundfile still cannot be imported from $site" >&2; exit 2; }
  echo "soundfile: installed from $wheels into $site"
fi
[[ $setup_only -eq 1 ]] && exit 0

# The ResNet-18 configuration's front end (128 mel bands at 32 kHz, 10 ms hop).
R18_FRONTEND=(data.sample_rate=32000 frontend.n_mels=128 frontend.n_fft=1024 frontend.hop_length=320
              frontend.f_max=16000)
if [[ $device == cpu ]]; then
  data=birdsong
  prepare=(--data birdsong --rates 16000 32000)
  loader=(--data "$data" --batch 8 --batches 2 --rounds 1 --warmup 1 --device cpu)
  r18=(--device cpu --data "$data" --methods simclr --backbone resnet18 --batch 8 --crop-seconds 0.5 --rounds 1 --steps 1
       --threads 1 --mfu --eval-share --set "${R18_FRONTEND[@]}" data.num_workers=1)
  methods=(--device cpu --data "$data" --batch 8 --crop-seconds 0.5 --rounds 1 --steps 1 --threads 1
           --set data.num_workers=1)
  train=(--method simclr --data birdsong --epochs 1 --set train.device=cpu --set data.batch_size=8
         --set data.crop_seconds=0.5 --set train.max_steps_per_epoch=2 --set train.progress=off)
  budget=(--epochs 2 --every 1 --set train.device=cpu --set data.batch_size=8 --set data.crop_seconds=0.5
          --set train.max_steps_per_epoch=2 --set model.backbone=test_resnet --set train.progress=off)
else
  data=birdsong-x16
  prepare=(--data birdsong-x16 birdsong --rates 16000 32000)
  loader=(--data "$data" --device "$device")
  r18=(--device "$device" --data "$data" --methods simclr --backbone resnet18 --batch 256 --crop-seconds 5
       --rounds 8 --steps 5 --threads 0 --mfu --eval-share
       --set "${R18_FRONTEND[@]}" data.num_workers=8 "data.split_fractions=[0.8,0.1,0.1]" data.device_data_gb=8)
  methods=(--device "$device" --data "$data" --rounds 8 --steps 5 --threads 0 --mfu --eval-share
           --set data.num_workers=8 "data.split_fractions=[0.8,0.1,0.1]")
  train=(--method simclr --data birdsong --set train.progress=off)
  budget=(--epochs 20 --every 2 --set data.windows_per_epoch=4 --set train.progress=off)
fi

status=0
started=$(date +%s)
: > "$out/summary.txt"
part() {  # part <name> <command...>: run it, its output into <name>.txt, a line into summary.txt
  local name=$1 t0 rc
  shift
  t0=$(date +%s)
  echo "== $name: $*" | tee -a "$out/summary.txt"
  { echo "\$ $*"; "$@"; } > "$out/$name.txt" 2>&1
  rc=$?
  echo "   exit $rc, $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
  [[ $rc -eq 0 ]] || status=1
  return $rc
}

part environment "$py" bench/suite_prepare.py "${prepare[@]}" || { echo "see $out/environment.txt"; exit 1; }
part loader "$py" bench/loader.py "${loader[@]}"
part resnet18 "$py" bench/pipeline.py "${r18[@]}"
part methods "$py" bench/pipeline.py "${methods[@]}"
part train "$py" -m ssl_core.train "${train[@]}" --output "$out/train_run"
part budget "$py" bench/budget_curve.py --out "$out/budget_run" "${budget[@]}"
if "$py" -c "import pytest, hypothesis" 2> /dev/null; then
  part cuda_tests "$py" -m pytest -q -p no:cacheprovider -k cuda tests/test_augment_audio.py \
    tests/test_augment_audio_warps.py tests/test_augment_image.py tests/test_frontends.py tests/test_optim.py
else
  echo "== cuda_tests: skipped, pytest and hypothesis are not installed" | tee -a "$out/summary.txt"
fi
if [[ $device != cpu ]]; then  # compile times are unknown here: bounded, and after every other table
  part views timeout 150 "$py" bench/views.py --device "$device" --threads 0 --repeats 20 --compile
fi
echo "suite: $(( $(date +%s) - started )) s on $device, exit $status; tables in $out" | tee -a "$out/summary.txt"
exit $status
