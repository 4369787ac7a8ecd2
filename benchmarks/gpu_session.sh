#!/usr/bin/env bash
# What a lent GPU is used for, as two calls of the device tool (each well under 10 minutes):
#   learn [MINUTES]: together on the card, the GPU tests (CUDA graph vs eager, resume), 3 digits
#       seeds with and without the graph (held-out cluster accuracy), and the InfoGAN-CR benchmark
#       on 64-px shapes with a step budget calibrated to MINUTES of training (default 4); if its
#       runs fail early under the graph, once more without it. CR_START=F switches InfoGAN-CR's
#       CR on at that fraction of the budget (the benchmark's --cr-start; default 0.5).
#   speed: alone on the card, the training-speed table (graph on/off, GAN/InfoGAN, MNIST and
#       64-px networks, batch 64/128/1,024, the plain port, the recording's cost), then the
#       evaluation's stage times on 64-px shapes and digits (`eval`: those alone).
#   throughput: alone on the card (about 5 minutes), training throughput of 9 InfoGAN-CR runs
#       on 64-px shapes (one alone vs 9 processes vs 9 seeds in one process, `run --seeds`, one
#       CUDA stream each; if together wins, the InfoGAN-CR benchmark can train with
#       `benchmarks.disentanglement --together`), then InfoGAN/GAN time with the graph at
#       batch 128 on the MNIST networks (1,000-step windows, 3 interleaved rounds).
#   checks: eval's stage times on 64-px shapes and digits alone on the card, DCI's batched trees
#       on the card against the threaded scikit-learn fit (metrics_speed), then every `gpu`
#       test, the five files side by side (the CUDA graph against the eager step, a resumed
#       graph run, torchrun with 1 rank vs the plain path, train+eval on CUDA, seeds on streams
#       vs alone, infogan-cr across its switch and with either pair discriminator, DCI's trees
#       on the GPU vs the CPU): 4 min 35 s on an H200 (2026-11-27) before the DCI lines were
#       added; not yet run with them.
#   digits: the InfoGAN-CR benchmark on digits (its preset, 1,000 steps, seeds 0-2 of infogan-cr,
#       infogan and gan, nine processes on the card; evaluation and selection as for shapes): the
#       digits half of #10's GPU report. Not yet run.
# Results go to $OUT (the device tool brings them back); the last lines are a short summary.
#   OUT=/tmp/gpu bash benchmarks/gpu_session.sh learn 4
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-session}
MODE=${1:-learn}
MINUTES=${2:-4}
mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }

python3 -m pip install -q --no-deps --no-build-isolation -e . >"$OUT/install-$MODE.log" 2>&1 \
  || { tail -5 "$OUT/install-$MODE.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

if [ "$MODE" = throughput ]; then
  stamp "together speed"
  timeout 220 python3 -m benchmarks.together_speed --device cuda --runs 9 --steps 1000 \
    --out bench-out/together >"$OUT/together.txt" 2>&1
  stamp "together rc=$?"
  timeout 150 python3 -m benchmarks.train_speed --device cuda --networks mnist --batch-sizes 128 \
    --cuda-graph on --window 1000 --windows 4 --rounds 3 >"$OUT/ratio.txt" 2>&1
  stamp "ratio rc=$?"
  echo "== together"; tail -8 "$OUT/together.txt"
  echo "== ratio"; grep -v "^(" "$OUT/ratio.txt" | tail -6
  exit 0
fi

if [ "$MODE" = digits ]; then
  stamp "digits benchmark"
  timeout 420 python3 -m benchmarks.disentanglement --device cuda --jobs 9 --datasets digits \
    --out bench-out/digits --report "$OUT/digits.md" >"$OUT/digits.txt" 2>&1
  stamp "digits rc=$?"
  tar czf "$OUT/digits-runs.tgz" bench-out/digits/*.json bench-out/digits/runs/*/*.json \
    bench-out/digits/runs/*/metrics.jsonl 2>/dev/null
  echo "== digits"; grep -A4 "^| cluster accuracy\|^| generator cluster\|^| nmi" "$OUT/digits.md" 2>/dev/null
  tail -4 "$OUT/digits.txt"
  exit 0
fi

if [ "$MODE" = checks ]; then
  # eval's stage times first, alone on the card; then the `gpu` tests, one pytest per file side
  # by side (correctness, not speed), each with its own limit, so that one slow file cannot hide
  # the failures of the others (pytest prints them only at its end)
  stamp "eval speed"
  timeout 170 python3 -m benchmarks.eval_speed --device cuda --cases shapes64,digits --jobs -1 \
    >"$OUT/eval-speed.txt" 2>&1
  stamp "eval speed rc=$?"
  timeout 150 python3 -m benchmarks.metrics_speed --device cuda --jobs -1 \
    --skip sklearn-gbt,probe >"$OUT/metrics-speed.txt" 2>&1
  stamp "metrics speed rc=$?"
  pids=""
  for case in training/cuda_graph:300 training/distributed:120 training/gpu:120 \
      training/together:240 evaluation/batched_boosting:120; do
    path=${case%%:*}
    file=${path#*/}
    ( timeout "${case##*:}" python3 -m pytest -q -rA --tb=short -p no:cacheprovider -o addopts= \
        -m gpu "tests/${path%%/*}/test_$file.py" >"$OUT/gpu-tests-$file.txt" 2>&1
      stamp "$file rc=$?" ) &
    pids="$pids $!"
  done
  wait $pids
  echo "== eval"; tail -32 "$OUT/eval-speed.txt"
  echo "== dci"; grep -E "^(metric|dci)" "$OUT/metrics-speed.txt"
  for f in "$OUT"/gpu-tests-*.txt; do
    echo "== $f"; grep -E "^(PASSED|FAILED|ERROR)|passed|failed|Error" "$f" | tail -12
  done
  exit 0
fi

if [ "$MODE" = speed ] || [ "$MODE" = eval ]; then
  if [ "$MODE" = speed ]; then
    stamp "speed table"
    timeout 150 python3 -m benchmarks.train_speed --device cuda --window 40 --windows 3 \
      --rounds 1 >"$OUT/speed.txt" 2>&1
    stamp "speed rc=$?"
    echo "== speed"; grep -v "^\[\|^\$ \|^(" "$OUT/speed.txt" | tail -34
  fi
  timeout 180 python3 -m benchmarks.eval_speed --device cuda --cases shapes64,digits --jobs -1 \
    >"$OUT/eval-speed.txt" 2>&1
  stamp "eval speed rc=$?"
  echo "== eval"; tail -36 "$OUT/eval-speed.txt"
  exit 0
fi

timeout 330 python3 -m pytest -q -p no:cacheprovider -o 'addopts=-m "not slow"' \
  tests/training/test_cuda_graph.py tests/training/test_gpu.py >"$OUT/gpu-tests.txt" 2>&1 &
tests=$!
for graph in on off; do
  timeout 400 python3 -m benchmarks.train_speed --quality --device cuda --cuda-graph $graph \
    --precision fp32 --methods infogan --seeds 0 1 2 --out bench-out >"$OUT/quality-$graph.txt" 2>&1 &
  quality="${quality:-} $!"
done

bench() {
  timeout "$1" python3 -m benchmarks.disentanglement --device cuda --jobs 9 --datasets shapes \
    --minutes "$MINUTES" --out "$2" --report "$OUT/disentanglement.md" \
    ${CR_START:+--cr-start "$CR_START"} "${@:3}" \
    >>"$OUT/disentanglement.txt" 2>&1
}
stamp "shapes benchmark, $MINUTES minutes of training"
bench 500 bench-out/disentanglement
rc=$?
if [ $rc -ne 0 ] && [ $(( $(date +%s) - start )) -lt 150 ]; then
  stamp "benchmark failed (rc=$rc) early: again without the CUDA graph"
  bench $(( 575 - ($(date +%s) - start) )) bench-out/disentanglement-eager \
    --run-arg=--no-cuda-graph
  rc=$?
fi
stamp "benchmark rc=$rc"
wait $tests $quality

tar czf "$OUT/runs.tgz" bench-out/disentanglement*/*.json bench-out/disentanglement*/report.md \
  bench-out/disentanglement*/runs/*/*.json bench-out/disentanglement*/runs/*/metrics.jsonl \
  bench-out/quality/*/summary.json bench-out/quality/*/metrics.jsonl 2>/dev/null
stamp "done"
echo "== tests";  tail -4 "$OUT/gpu-tests.txt"
echo "== quality"; tail -n 5 "$OUT"/quality-*.txt
echo "== shapes"; grep -A2 "^| mig\|^| factor vae" "$OUT/disentanglement.md" 2>/dev/null
grep -o "Budget of [^(]*([^)]*)\|Training wall.*" "$OUT/disentanglement.md" 2>/dev/null
tail -4 "$OUT/disentanglement.txt"
