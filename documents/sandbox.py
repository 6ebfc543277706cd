"""The bounded extraction process. A document is read in a child process that
sets hard limits on itself before it imports any reader (CPU seconds and
address space with setrlimit; no core files), while the parent enforces the
wall clock and kills the child's whole process group (Tesseract included) when
it runs out. So no file can hold a web worker longer than its budget or grow
it by more than the size of the text that comes back.

`extract_bounded(path, name, wall_s=...)` is the parent's side; running this
module (`python -m documents.sandbox PATH SUFFIX LIMITS-JSON`) is the child's."""

import contextlib
import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path, PurePath

from .extraction import Extracted, ExtractionError, Limits, NeedsOCR

log = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
# Exit codes of a child stopped by its own limits.
KILLED_FOR_CPU = {-signal.SIGXCPU, -signal.SIGKILL}
MEMORY_EXIT = 3


class TooSlow(ExtractionError):
    """The wall clock ran out. The upload request's quick attempt hands the file
    to the extraction job; the job refuses it with this reason."""

    def __init__(self, wall_s: float):
        super().__init__(f"too slow: reading it took longer than {wall_s:g} s (the limit)")
        self.wall_s = wall_s


@dataclasses.dataclass(frozen=True)
class Budget:
    wall_s: float
    cpu_s: int
    memory_mb: int
    limits: Limits = Limits()


def extract_bounded(path: str | Path, filename: str, budget: Budget) -> Extracted:
    """Read the file at path in a child process within the budget. Raises
    ExtractionError (TooSlow for the wall clock) with a reason naming the limit."""
    suffix = re.sub(r"[^A-Za-z0-9.]", "", PurePath(filename).suffix)[:12]
    config = json.dumps(
        {"cpu_s": budget.cpu_s, "memory_mb": budget.memory_mb, "limits": dataclasses.asdict(budget.limits)}
    )
    # One Tesseract thread: the machine's other core belongs to the web server and workers.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "PYTHONPATH": str(BASE_DIR)}
    child = subprocess.Popen(
        [sys.executable, "-m", "documents.sandbox", str(path), suffix, config],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=BASE_DIR,
        env=env,
        start_new_session=True,  # its own process group, so a kill takes Tesseract too
    )
    try:
        out, err = child.communicate(timeout=budget.wall_s)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        child.communicate()
        raise TooSlow(budget.wall_s) from None
    finally:
        _kill_group(child)  # any grandchild left behind
    if child.returncode in KILLED_FOR_CPU:
        raise ExtractionError(f"too slow: reading it took more than {budget.cpu_s} s of processor time (the limit)")
    if child.returncode == MEMORY_EXIT:
        raise ExtractionError(f"too large to read: it needs more than {budget.memory_mb} MB of memory (the limit)")
    try:
        if child.returncode != 0:
            raise ValueError(f"exit {child.returncode}")
        result = json.loads(out)
    except ValueError:
        log.warning("extraction process failed (%s): %s", child.returncode, err.decode(errors="replace")[-2000:])
        raise ExtractionError("unreadable: the file could not be read (the reader stopped with an error)") from None
    if result.get("needs_ocr"):
        raise NeedsOCR()
    if "reason" in result:
        raise ExtractionError(result["reason"])
    return Extracted(**result)


def _kill_group(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


def _limit_self(cpu_s: int, memory_mb: int) -> None:
    import resource

    # Soft CPU limit: SIGXCPU; the hard one a second later: SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Tesseract's temporary images are the only files written.
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024 * 1024, 256 * 1024 * 1024))


def main(argv: list[str]) -> int:
    path, suffix, config = argv[1], argv[2], json.loads(argv[3])
    _limit_self(config["cpu_s"], config["memory_mb"])
    from .extraction import extract

    try:
        data = Path(path).read_bytes()
        extracted = extract(data, f"upload{suffix}", Limits(**config["limits"]))
        result = dataclasses.asdict(extracted)
    except NeedsOCR as error:
        result = {"reason": error.reason, "needs_ocr": True}
    except ExtractionError as error:
        result = {"reason": error.reason}
    except MemoryError:
        return MEMORY_EXIT
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
