"""``bioner.BenchmarkLogger.v1``: spaCy's console logger, plus one JSON line
per evaluation with the epoch, step, score, seconds and words seen, from
which the harness derives training seconds per epoch."""
import sys
from pathlib import Path
from typing import IO, Callable, Dict, Optional, Tuple

import srsly
from spacy import Language
from spacy.training.loggers import console_logger_v3
from spacy.util import registry


@registry.loggers("bioner.BenchmarkLogger.v1")
def benchmark_logger(output_file: str, console_output: bool = True):
    console = console_logger_v3(progress_bar=None, console_output=console_output, output_file=None)

    def setup(nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[Callable, Callable]:
        log_console, finalize_console = console(nlp, stdout, stderr)
        Path(output_file).parent.mkdir(parents=True, exist_ok=True)
        stream = open(output_file, "w", encoding="utf8")

        def log_step(info: Optional[Dict]) -> None:
            log_console(info)
            if info is None:
                return
            record = {k: info.get(k) for k in ("epoch", "step", "seconds", "words")}
            record["score"] = float(info["score"])
            stream.write(srsly.json_dumps(record) + "\n")
            stream.flush()

        def finalize() -> None:
            finalize_console()
            stream.close()

        return log_step, finalize

    return setup
