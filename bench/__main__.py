"""Run every benchmark module, print a table, write var/bench/latest.json.

1. Sets Django up against the servers in DATABASE_URL / REDIS_URL (`make bench`
   starts embedded ones under var/bench/) and migrates.
2. Runs each module's run() (or only those named: `make bench ARGS=pages`).
3. Prints every figure and writes them, one key per figure, to var/bench/latest.json.
"""

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

# Each module measures one area; run() returns {"section": {"figure": value}}.
MODULES = [
    "bench.patterns", "bench.capacity", "bench.stepprofile", "bench.pages", "bench.runpages", "bench.export",
    "bench.retention", "bench.reaper", "bench.peers", "bench.labelled", "bench.upload", "bench.api", "bench.claude",
]  # fmt: skip


def machine() -> dict:
    import django

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def flatten(figures: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key, value in figures.items():
        name = f"{prefix}.{key}" if prefix else key
        rows.extend(flatten(value, name) if isinstance(value, dict) else [(name, value)])
    return rows


def merge(into: dict, figures: dict) -> None:
    """Two modules may fill one section (pages, runpages): their figures add up."""
    for section, values in figures.items():
        if isinstance(values, dict) and isinstance(into.get(section), dict):
            into[section].update(values)
        else:
            into[section] = values


def _write(path: Path, figures: dict) -> None:
    """Merge `figures` into the results file: a partial run (ARGS=pages) keeps the others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.exists() else {}
    merge(previous, figures)
    path.write_text(json.dumps(previous, indent=2) + "\n")


def main(names: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    path = Path(os.environ.get("QUORUM_BENCH_OUT") or settings.BASE_DIR / "var" / "bench" / "latest.json")
    results: dict = {}
    for module_name in MODULES:
        if names and module_name.removeprefix("bench.") not in names:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            print(f"({module_name} not written yet: skipped)")
            continue
        print(f"== {module_name}", flush=True)
        started = time.monotonic()
        figures = module.run()
        merge(results, figures)
        # Written after every module: a later one (peers) reads this run's figures, and a
        # module that fails leaves the earlier ones on disk.
        _write(path, figures | {"machine": machine()})
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    results["machine"] = machine()

    width = max(len(name) for name, _ in flatten(results))
    print()
    for name, value in flatten(results):
        print(f"{name:<{width}}  {value}")
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
