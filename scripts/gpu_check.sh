#!/usr/bin/env bash
# The device check (scripts/gpu_check.py): on the lent GPU machine, or here on CPU.
#   bash scripts/gpu_check.sh PREPARED OUTPUT_DIR GPU_ID [check options]
# On the device: run(command="bash scripts/gpu_check.sh .gpu $OUT 0 --cpu-lanes 3", carry=[".gpu"], timeout_s=480)
# Here, CPU only:  bash scripts/gpu_check.sh .gpu gpu-check -1
# PREPARED comes from `python scripts/gpu_check.py prepare`; where it holds site.tar.gz
# (the device's missing packages), they are unpacked and this working tree installed
# beside them, so the check runs the code it travelled with.
set -euo pipefail
cd "$(dirname "$0")/.."
prepared=${1:-.gpu}
out=${2:-gpu-check}
gpu_id=${3:-0}
shift $(( $# < 3 ? $# : 3 ))
# the Python to run: $PYTHON, else this checkout's .venv (here), else python3 (the device's, with torch)
if [ -n "${PYTHON:-}" ]; then python=$PYTHON; elif [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
if [ ! -f "$prepared/manifest.json" ]; then
    echo "error: $prepared/manifest.json not found: build the folder with \`spacy project run gpu-prepare\`" >&2
    exit 2
fi
mkdir -p "$out"
# the packed packages serve only the Python they were packed for (the device's)
packed_for=$("$python" -c "import json, sys; print(json.load(open(sys.argv[1])).get('site', {}).get('python', ''))" "$prepared/manifest.json")
running=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -f "$prepared/site.tar.gz" ] && [ "$packed_for" = "$running" ]; then
    site=$(mktemp -d)
    tar xzf "$prepared/site.tar.gz" -C "$site"
    "$python" -m pip install --quiet --no-index --no-deps --no-build-isolation --no-compile --target "$site" .
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
elif [ -f "$prepared/site.tar.gz" ]; then
    echo "$prepared/site.tar.gz is for Python $packed_for; running with $python's own packages (Python $running)" >&2
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/nvidia-smi.csv" || true; fi
status=0
"$python" scripts/gpu_check.py check "$prepared" --gpu-id "$gpu_id" --output "$out/gpu_check.json" "$@" \
    2> >(tee "$out/gpu_check.log" >&2) || status=$?
exit $status
