"""The downstream path: in a fresh virtualenv, offline, installing the
pipeline package built by `spacy package` (and bioner-spacy from a local
wheel) is enough for spacy.load(...) and doc.ents.

The virtualenv installs only from ``wheelhouse/`` (``--no-index``), which
``scripts/setup.sh`` fills with the wheels of bioner-spacy's requirements.
"""
import json
import os
import subprocess
import sys
import venv

import pytest

from .conftest import REPO, TOY_TEXT

def run(*cmd, **kwargs):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done


@pytest.mark.slow
def test_package_installs_and_loads_in_a_fresh_offline_venv(pipeline_dir, tmp_path):
    wheelhouse = REPO / "wheelhouse"
    assert any(wheelhouse.glob("spacy-*.whl")), f"{wheelhouse} has no spacy wheel: run scripts/setup.sh"
    # bioner-spacy as a local wheel, built from this checkout without the network
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", REPO)
    # the pipeline package, as `spacy project run package` builds it (an sdist)
    (tmp_path / "packages").mkdir()
    run(sys.executable, "-m", "spacy", "package", pipeline_dir, tmp_path / "packages", "--name", "bioner_cfa",
        "--version", "0.0.1", "--force")
    (sdist,) = (tmp_path / "packages").glob("*/dist/en_bioner_cfa-0.0.1.tar.gz")
    venv.create(tmp_path / "fresh", with_pip=True)
    python = tmp_path / "fresh" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INDEX="1", HF_HUB_OFFLINE="1")
    run(python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheelhouse,
        "--find-links", tmp_path / "dist", sdist, env=env)
    code = (
        "import json, spacy\n"
        "nlp = spacy.load('en_bioner_cfa')\n"
        f"doc = nlp({TOY_TEXT!r})\n"
        "print(json.dumps([(e.text, e.label_) for e in doc.ents]))\n"
    )
    out = run(python, "-c", code, env=env, cwd=tmp_path)
    assert json.loads(out.stdout) == [["cisplatin", "Chemical"], ["renal failure", "Disease"]]
    listed = run(python, "-m", "pip", "list", "--format", "json", env=env)
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert {"bioner-spacy", "en-bioner-cfa", "spacy"} <= names and "torch" not in names
