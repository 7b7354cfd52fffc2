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
import urllib.request

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


def pool_config(
    port: int, logdir: str, events_socket: str | None = None, metrics_port: int | None = None
) -> dict[str, object]:
    """A pool that accepts every well-formed share: fixed tiny difficulty, hard network target."""
    extra: dict[str, object] = {}
    if events_socket is not None:
        extra["events"] = {"enabled": True, "socket_path": events_socket}
    if metrics_port is not None:
        extra["metrics"] = {"enabled": True, "port": metrics_port}
    return {
        **extra,
        "btcd": [{"url": "embedded"}],
        "embedded": {"difficulty": 1e6},
        "serverurl": [f"127.0.0.1:{port}"],
        "logdir": logdir,
        "mindiff": 1e-12,
        "startdiff": 1e-12,
        "vardiff": {"enabled": False},
        "maxclients": 100000,
        # Every bench connection comes from 127.0.0.1: exempt it from the per-IP limits.
        "rate_limits": {"exempt": ["127.0.0.0/8"]},
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
    parser.add_argument("--events", action="store_true",
                        help="emit every event type to a tbgpool-events collector (--quiet)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="tbgpool-bench-", dir="/tmp")
    port, metrics_port = free_port(), free_port()
    events_socket = os.path.join(workdir, "events.sock") if args.events else None
    config_path = os.path.join(workdir, "pool.json")
    with open(config_path, "w") as f:
        json.dump(pool_config(port, os.path.join(workdir, "logs"), events_socket, metrics_port), f)
    collector = None
    if events_socket is not None:
        collector = subprocess.Popen(
            [sys.executable, "-m", "tbgpool.events.cli", "--socket", events_socket, "--quiet"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
        )
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
        accepted = _scrape(metrics_port, "ckpool_shares_total", 'valid="true"')
        if accepted:
            print(f"pool CPU per accepted share: {1e6 * pool_cpu / accepted:.1f} µs "
                  f"({accepted:.0f} shares; events {'on' if args.events else 'off'})")
        if args.events:
            for line in _emit_latency_lines(metrics_port):
                print(line)
    finally:
        pool.send_signal(signal.SIGTERM)
        pool.wait(timeout=30)
        if collector is not None:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def _scrape(port: int, name: str, labels: str = "") -> float:
    """One sample's value from the pool's /metrics (0 if absent)."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in _metrics_text(port).splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def _emit_latency_lines(port: int) -> list[str]:
    """The pool's own event emission latency histogram: count, and bucket quantile bounds."""
    buckets: list[tuple[float, float]] = []
    count = 0.0
    events_sent = dropped = 0.0
    for line in _metrics_text(port).splitlines():
        if line.startswith("ckpool_event_emit_latency_us_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.split()[-1])))
        elif line.startswith("ckpool_event_emit_latency_us_count "):
            count = float(line.split()[-1])
        elif line.startswith("ckpool_events_sent_total "):
            events_sent = float(line.split()[-1])
        elif line.startswith("ckpool_events_dropped_total{"):
            dropped += float(line.split()[-1])
    lines = [f"events sent {events_sent:.0f}, dropped {dropped:.0f}, latency observations {count:.0f}"]
    for quantile in (0.5, 0.99, 0.999):
        bound = next((b for b, c in buckets if count and c >= quantile * count), float("inf"))
        lines.append(f"emit latency p{quantile * 100:g} <= {bound:g} µs (histogram bucket bound)")
    return lines


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    sys.exit(main())
