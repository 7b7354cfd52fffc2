"""Run every fuzz target for a bounded time or number of runs, and summarise.

Usage, from the repository root::

    .venv/bin/python fuzz/run.py --seconds-per-target 20      # make fuzz-ci
    .venv/bin/python fuzz/run.py --seconds-per-target 600     # make fuzz
    .venv/bin/python fuzz/run.py --runs 100000 --targets address,coinbase_tag

Each target reads its seeds from ``fuzz/corpus/<target>/`` and keeps what it finds
in ``fuzz/work/<target>/`` (git-ignored; later runs start from it). Crash inputs go
to ``fuzz/artifacts/<target>/``; each target's libFuzzer output to
``fuzz/work/<target>.log``. Prints one row per target (executions, coverage,
features, corpus, exec/s, outcome) and exits 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent
TARGETS = ("jsonrpc_line", "subscribe", "authorize", "submit", "address", "coinbase_tag", "sha256")
DICTIONARY = FUZZ_DIR / "dict" / "stratum.dict"
#: Extra libFuzzer flags per target: the line target may exceed the 16 KiB line limit.
TARGET_FLAGS: dict[str, list[str]] = {
    "jsonrpc_line": [f"-dict={DICTIONARY}", "-max_len=20000"],
}
#: Seconds a single input may take before libFuzzer calls it a hang.
INPUT_TIMEOUT_S = 30
#: libFuzzer's memory ceiling per target process.
RSS_LIMIT_MB = 2048

_STATUS_LINE = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_EXECUTED = re.compile(r"^stat::number_of_executed_units:\s*(\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass
class Outcome:
    """What one target's run came to."""

    target: str
    executions: int = 0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    seconds: float = 0.0
    returncode: int = 0
    artifact: str = ""

    @property
    def crashed(self) -> bool:
        """True if libFuzzer stopped on a finding (crash, hang, out of memory) or failed."""
        return self.returncode != 0

    @property
    def exec_per_s(self) -> float:
        """Executions per wall-clock second."""
        return self.executions / self.seconds if self.seconds > 0 else 0.0


def parse_log(target: str, text: str, returncode: int, seconds: float) -> Outcome:
    """An Outcome from libFuzzer's output: the last status line and the final stats."""
    outcome = Outcome(target, seconds=seconds, returncode=returncode)
    for line in text.splitlines():
        status = _STATUS_LINE.match(line)
        if status:
            outcome.executions = int(status.group(1))
            outcome.coverage = int(status.group(3))
            outcome.features = int(status.group(4))
            outcome.corpus = int(status.group(5))
        executed = _EXECUTED.match(line)
        if executed:
            outcome.executions = int(executed.group(1))
        artifact = _ARTIFACT.search(line)
        if artifact:
            outcome.artifact = artifact.group(1)
    return outcome


def command(python: str, target: str, seconds: int | None, runs: int | None) -> list[str]:
    """The libFuzzer command line for one target."""
    artifacts = FUZZ_DIR / "artifacts" / target
    work = FUZZ_DIR / "work" / target
    seeds = FUZZ_DIR / "corpus" / target
    for directory in (artifacts, work):
        directory.mkdir(parents=True, exist_ok=True)
    args = [
        python,
        str(FUZZ_DIR / f"fuzz_{target}.py"),
        f"-artifact_prefix={artifacts}/",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        "-print_final_stats=1",
        *TARGET_FLAGS.get(target, []),
    ]
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    if runs is not None:
        args.append(f"-runs={runs}")
    args.append(str(work))
    if seeds.is_dir():
        args.append(str(seeds))
    return args


def run_target(python: str, target: str, seconds: int | None, runs: int | None) -> Outcome:
    """Run one target to its bound; its output goes to fuzz/work/<target>.log."""
    args = command(python, target, seconds, runs)
    log_path = FUZZ_DIR / "work" / f"{target}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        completed = subprocess.run(
            args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    elapsed = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return parse_log(target, text, completed.returncode, elapsed)


def table(outcomes: list[Outcome]) -> str:
    """The summary table (Markdown), with a total row."""
    rows = [
        "| target | executions | cov | ft | corpus | seconds | exec/s | result |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        result = f"CRASH ({o.artifact or f'exit {o.returncode}'})" if o.crashed else "ok"
        rows.append(
            f"| {o.target} | {o.executions:,} | {o.coverage} | {o.features} | {o.corpus} "
            f"| {o.seconds:.0f} | {o.exec_per_s:,.0f} | {result} |"
        )
    total = sum(o.executions for o in outcomes)
    seconds = sum(o.seconds for o in outcomes)
    crashes = sum(o.crashed for o in outcomes)
    rows.append(f"| **total** | {total:,} | | | | {seconds:.0f} | | {crashes} crashed |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen targets one after another; 1 if any crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--seconds-per-target", type=int, help="wall-clock bound per target")
    bound.add_argument("--runs", type=int, help="number of inputs per target")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma-separated subset of: " + ", ".join(TARGETS)
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter with atheris")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    seconds = args.seconds_per_target
    if seconds is None and args.runs is None:
        seconds = 60
    outcomes = []
    for target in targets:
        print(f"fuzzing {target} ...", flush=True)
        outcome = run_target(args.python, target, seconds, args.runs)
        outcomes.append(outcome)
        print(
            f"  {outcome.executions:,} executions, cov {outcome.coverage}, "
            f"{'CRASHED: ' + (outcome.artifact or str(outcome.returncode)) if outcome.crashed else 'ok'}",
            flush=True,
        )
    print(table(outcomes))
    return 1 if any(o.crashed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
