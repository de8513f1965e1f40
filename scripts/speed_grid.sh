#!/usr/bin/env bash
# Grid pipelines' speed against the syntax pipeline (issue 18): docs/NAME-DATE.md.
# Usage: bash scripts/speed_grid.sh NAME SYSTEM...
#   bash scripts/speed_grid.sh speed-grid grid grid-c32 bilstm-vec
#   bash scripts/speed_grid.sh speed-grid-narrow grid-c32 grid-c32-h64 grid-c16-h64 bilstm-vec
# Each SYSTEM of configs/benchmark.yml is its seed-0 run on BC5CDR-chem, over
# this checkout's vectors build, its cell kept apart from docs/ (in
# benchmark/speed-grid-results). "grid", the 64-channel grid, is trained with
# the same settings but a 50-doc dev slice, for timing only (its F1 is not used).
# About 30 minutes per system to train on one free core, then the measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
NAME=$1
shift
DATE=$(date +%F)
PIPELINES=()
for system in "$@"; do
  if [ "$system" = grid ]; then
    if [ ! -d benchmark/runs/grid-speed-c64/model-last ]; then
      $PY -m spacy train configs/grid_bilstm.cfg --output benchmark/runs/grid-speed-c64 \
        --paths.train corpus/BC5CDR-chem/train.spacy --paths.dev corpus/BC5CDR-chem/dev.spacy \
        --training.max_steps 2000 --training.max_epochs 0 --training.eval_frequency 500 --system.seed 0 \
        --corpora.dev.limit 50
    fi
    model=benchmark/runs/grid-speed-c64/model-last
  else
    $PY -m bioner_spacy benchmark run --matrix main --systems "$system" --datasets BC5CDR-chem --seeds 0 \
      --jobs 1 --threads 1 --no-speed --results benchmark/speed-grid-results --output benchmark/speed-grid-results.md
    model=benchmark/runs/${system}__BC5CDR-chem__seed0/model/model-best
  fi
  $PY -m bioner_spacy assemble "$model" "benchmark/pipelines/$system"
  PIPELINES+=(--pipeline "$system=benchmark/pipelines/$system")
done
$PY -m bioner_spacy.benchmark.speed --data corpus/BC5CDR-chem/test.spacy "${PIPELINES[@]}" \
  --limit 2000 --repeats 5 --threads 1 --output "docs/benchmark/$NAME-$DATE.json" --markdown "docs/$NAME-$DATE.md"
