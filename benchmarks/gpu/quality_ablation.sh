#!/usr/bin/env bash
# The quality ablation on one GPU machine: every (dataset, variant) cell, several at a time.
#   OUT=/tmp/out LDX_DATA_DIR=/path/to/data bash benchmarks/gpu/quality_ablation.sh [budget_s]
# Cells that finish inside the budget are gathered into $OUT/ablation.jsonl.
set -u
BUDGET=${1:-420}
PAR=${PAR:-10}
DATASETS=${DATASETS:-"sines stocks energy etth1 fmri"}
VARIANTS=${VARIANTS:-"base lv14 lv14_in lv14_psld"}
export XLA_PYTHON_CLIENT_PREALLOCATE=false JAX_PLATFORMS=${JAX_PLATFORMS:-cuda} PYTHONUNBUFFERED=1
mkdir -p /tmp/cells
CELLS=${CELLS:-$(for v in $VARIANTS; do for d in $DATASETS; do echo "$d,$v"; done; done)}
for c in $CELLS; do echo "${c%,*} ${c#*,}"; done |
  timeout "$BUDGET" xargs -P "$PAR" -L 1 sh -c \
    'python3 -m benchmarks.quality_ablation --dataset=$0 --variant=$1 --workdir=/tmp/cells/$0-$1 --max_windows=10000 ${CELL_FLAGS:-} > /tmp/cells/$0-$1.log 2>&1'
grep -h "^RESULT " /tmp/cells/*.log | sed 's/^RESULT //' > "$OUT/ablation.jsonl"
for f in /tmp/cells/*.log; do grep -q "^RESULT" "$f" || { echo "== $f"; tail -5 "$f"; }; done > "$OUT/failed.txt"
tar czf "$OUT/cells.tgz" -C /tmp/cells --exclude=checkpoints --exclude=tensorboard . 2>/dev/null
wc -l "$OUT/ablation.jsonl"
