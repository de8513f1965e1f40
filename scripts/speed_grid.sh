#!/usr/bin/env bash
# The grid's speed against the syntax pipeline (issue 18): docs/speed-grid-DATE.md.
# grid-c32 and bilstm-vec: the benchmark's seed-0 runs on BC5CDR-chem, over
# this checkout's vectors build, their cells kept apart from docs/ (in
# benchmark/speed-grid-results); the 64-channel grid is trained with the
# same settings but a 50-doc dev slice, for timing only (its F1 is not used).
# Usage: bash scripts/speed_grid.sh   (about 2 hours on one free core)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
DATE=$(date +%F)
$PY -m bioner_spacy benchmark run --matrix main --systems grid-c32,bilstm-vec --datasets BC5CDR-chem --seeds 0 --jobs 1 --threads 1 --no-speed \
  --results benchmark/speed-grid-results --output benchmark/speed-grid-results.md
if [ ! -d benchmark/runs/grid-speed-c64/model-last ]; then
  $PY -m spacy train configs/grid_bilstm.cfg --output benchmark/runs/grid-speed-c64 \
    --paths.train corpus/BC5CDR-chem/train.spacy --paths.dev corpus/BC5CDR-chem/dev.spacy \
    --training.max_steps 2000 --training.max_epochs 0 --training.eval_frequency 500 --system.seed 0 \
    --corpora.dev.limit 50
fi
$PY -m bioner_spacy assemble benchmark/runs/grid-speed-c64/model-last benchmark/pipelines/grid-speed-c64
$PY -m bioner_spacy assemble benchmark/runs/grid-c32__BC5CDR-chem__seed0/model/model-best benchmark/pipelines/grid-c32
$PY -m bioner_spacy assemble benchmark/runs/bilstm-vec__BC5CDR-chem__seed0/model/model-best benchmark/pipelines/bilstm-vec
$PY -m bioner_spacy.benchmark.speed --data corpus/BC5CDR-chem/test.spacy \
  --pipeline grid=benchmark/pipelines/grid-speed-c64 --pipeline grid-c32=benchmark/pipelines/grid-c32 \
  --pipeline bilstm-vec=benchmark/pipelines/bilstm-vec --limit 2000 --repeats 5 --threads 1 \
  --output "docs/benchmark/speed-grid-$DATE.json" --markdown "docs/speed-grid-$DATE.md"
