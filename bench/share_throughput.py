#!/usr/bin/env python3
"""Accepted shares per second through the whole Stratum path, and the round-trip percentiles.

Starts the pool (twistd, embedded chain) on a loopback port with a config whose
share difficulty is tiny and fixed, so every well-formed share is accepted and
none is a block; then drives it with the C load generator stratum-bench
(``../shared/tools/stratum-bench``, built on the fly) at 1,000 connections and
prints what it measured. Not a test: it prints numbers.

    python bench/share_throughput.py [--conns 1000] [--rate 6000] [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_SOURCE = os.path.join(ROOT, "..", "shared", "tools", "stratum-bench")
ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_generator(source: str, workdir: str) -> str:
    """Compile stratum-bench into ``workdir``; returns the binary's path."""
    binary = os.path.join(workdir, "stratum_bench")
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-o", binary, os.path.join(source, "stratum_bench.c")],
        check=True,
    )
    return binary


def pool_config(port: int, logdir: str) -> dict[str, object]:
    """A pool that accepts every well-formed share: fixed tiny difficulty, hard network target."""
    return {
        "btcd": [{"url": "embedded"}],
        "embedded": {"difficulty": 1e6},
        "serverurl": [f"127.0.0.1:{port}"],
        "logdir": logdir,
        "mindiff": 1e-12,
        "startdiff": 1e-12,
        "vardiff": {"enabled": False},
        "maxclients": 100000,
    }


def wait_for_port(port: int, timeout_s: float) -> None:
    """Block until the pool listens (or give up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"pool did not listen on {port} within {timeout_s}s")


def main() -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=6000, help="total shares/s offered")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--ramp", type=float, default=5)
    parser.add_argument("--max-inflight", type=int, default=1)
    parser.add_argument("--version-rolling", action="store_true")
    parser.add_argument("--bench-source", default=BENCH_SOURCE)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="tbgpool-bench-")
    port = free_port()
    config_path = os.path.join(workdir, "pool.json")
    with open(config_path, "w") as f:
        json.dump(pool_config(port, os.path.join(workdir, "logs")), f)
    generator = build_generator(args.bench_source, workdir)
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    pool = subprocess.Popen(
        [twistd, "--pidfile=", "-n", "--logfile", os.path.join(workdir, "pool.log"),
         "tbgpool", "--config", config_path],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    try:
        wait_for_port(port, 30)
        time.sleep(1.0)  # let the first template arrive
        command = [
            generator, "--port", str(port), "--conns", str(args.conns), "--rate", str(args.rate),
            "--ramp", str(args.ramp), "--duration", str(args.duration), "--user", ADDRESS,
            "--max-inflight", str(args.max_inflight), "--report-interval", "0", "--json",
        ]
        if args.version_rolling:
            command.append("--version-rolling")
        started = time.process_time()
        pool_cpu_before = _cpu_seconds(pool.pid)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        pool_cpu = _cpu_seconds(pool.pid) - pool_cpu_before
        del started
        sys.stderr.write(result.stderr)
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        print(json.dumps(summary, indent=2, sort_keys=True))
        window = args.duration
        print(f"pool CPU over the run: {pool_cpu:.1f} s ({100 * pool_cpu / (window + args.ramp):.0f}% of one core)")
    finally:
        pool.send_signal(signal.SIGTERM)
        pool.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    sys.exit(main())
