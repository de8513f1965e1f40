#!/usr/bin/env bash
# The grid pipeline with the syntax pipeline's senter alone against the whole
# syntax pipeline (issue 18): the same trained grid_ner, assembled both ways
# (`assemble --sentences senter` / `--sentences parser`), each scored from the
# words (the pipeline finds the sentences) on BC5CDR-chem dev and test.
# Usage: bash scripts/grid_senter.sh SYSTEM SEED...
#   bash scripts/grid_senter.sh grid-c32 0 1 2
# Needs the kept models benchmark/runs/SYSTEM__BC5CDR-chem__seedN/model/model-best
# (python -m bioner_spacy benchmark run --matrix main --systems SYSTEM --datasets BC5CDR-chem --seeds N).
# Writes benchmark/pipelines/SYSTEM-seedN-{parser,senter} and
# benchmark/grid-senter/SYSTEM-seedN-{parser,senter}-{dev,test}.json; what
# exists is kept (two runs side by side, then one over all seeds for the table).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
SYSTEM=$1
shift
mkdir -p benchmark/grid-senter
for seed in "$@"; do
  model=benchmark/runs/${SYSTEM}__BC5CDR-chem__seed$seed/model/model-best
  for sentences in parser senter; do
    pipeline=benchmark/pipelines/$SYSTEM-seed$seed-$sentences
    [ -d "$pipeline" ] || $PY -m bioner_spacy assemble "$model" "$pipeline" --sentences $sentences
    for split in dev test; do
      [ -f benchmark/grid-senter/$SYSTEM-seed$seed-$sentences-$split.json ] || $PY -m bioner_spacy evaluate "$pipeline" corpus/BC5CDR-chem/$split.spacy \
        --output benchmark/grid-senter/$SYSTEM-seed$seed-$sentences-$split.json
    done
  done
done
$PY - "$SYSTEM" "$@" <<'PY'
import json, sys
system, seeds = sys.argv[1], sys.argv[2:]
print(f"{system} on BC5CDR-chem, seqeval F1 from the words: parser sentences / senter sentences / difference")
for split in ("dev", "test"):
    diffs = []
    for seed in seeds:
        f = {s: json.load(open(f"benchmark/grid-senter/{system}-seed{seed}-{s}-{split}.json"))["seqeval_f"] * 100 for s in ("parser", "senter")}
        diffs.append(f["senter"] - f["parser"])
        print(f"{split} seed {seed}: {f['parser']:.2f} / {f['senter']:.2f} / {diffs[-1]:+.2f}")
    print(f"{split} mean difference {sum(diffs) / len(diffs):+.2f}")
PY
