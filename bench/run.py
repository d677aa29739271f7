"""Run syncd's benchmarks: `python bench/run.py [--quick] [--only NAME ...]` (as root, on Linux with
systemd and git; `make bench` runs it in the project venv).

Each benchmark prints a table and writes bench/results/NAME.json (with the machine's CPU, cores,
RAM, kernel, python, git and systemd versions and the date); this script also writes
bench/results/summary.md with every table, ready to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

BENCHMARKS = ("deploy_scaling", "idle_sync", "secrets_deploy", "push_latency", "idle_daemon", "python_env")
NEEDS_DAEMON = ("push_latency", "idle_daemon")


def daemon_available() -> bool:
    try:
        importlib.import_module("syncd.actions.run")
        importlib.import_module("syncd.daemon.loop")
        return True
    except ImportError:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: small sizes, few repetitions (< 2 min)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "bench/run.py needs root: it chowns trees to a system user and runs git as that user",
            file=sys.stderr,
        )
        return 2
    from common import machine_info, RESULTS

    names = args.only or list(BENCHMARKS)
    machine = machine_info()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()), flush=True)
    sections, failed = [], []
    t_all = time.perf_counter()
    for name in names:
        if name in NEEDS_DAEMON and not daemon_available():
            print(f"\n== {name}: skipped, `syncd run` is not available in this checkout")
            sections.append(f"### {name}\n\nskipped: `syncd run` not available\n")
            continue
        print(f"\n== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(name)
            out = module.main(["--quick"] if args.quick else [])
            took = time.perf_counter() - t0
            print(f"   ({took:.0f} s)")
            sections.append(f"### {name} ({took:.0f} s)\n\n{out['table']}\n")
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            sections.append(f"### {name}\n\nFAILED (see the run's output)\n")
    total = time.perf_counter() - t_all
    RESULTS.mkdir(parents=True, exist_ok=True)
    header = (
        "# Benchmark results"
        + (" (--quick)" if args.quick else "")
        + "\n\n"
        + "\n".join(f"- {k}: {v}" for k, v in machine.items())
        + f"\n- total run time: {total:.0f} s\n\n"
    )
    # Only a full run rewrites summary.md: a partial or quick one must not replace its figures.
    partial = args.quick or args.only
    (RESULTS / ("summary-partial.md" if partial else "summary.md")).write_text(header + "\n".join(sections))
    print(f"\nall done in {total:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
