#!/usr/bin/env python3
"""Events emitter throughput and latency on the real reactor, against a real collector socket.

A separate process binds the collector socket and reads as fast as it can. This
process drives ``--rate`` realistic ``share_submitted`` events per second through
:class:`tbgpool.events.EventEmitter` for ``--duration`` seconds, emitting in 1 ms
ticks (each event's ``validated_at`` is the time of its emit call), then prints
what was sent, dropped and received, the latency from validation to datagram sent
(p50, p99, max, µs; the spec's target is p99 < 1 ms) and the CPU cost per event.
Not a test: it prints numbers.

    python bench/events_bench.py [--rate 10000] [--duration 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STOP = b"STOP\n"
ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"


def collect(path: str, ready: Any, results: Any) -> None:
    """The collector process: bind, count datagrams, events and seq gaps until STOP."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(path)
    ready.set()
    datagrams = events = missing = 0
    last_seq = 0
    marker = b'"seq":'
    while True:
        datagram = sock.recv(1 << 18)
        if datagram == STOP:
            break
        datagrams += 1
        for line in datagram.split(b"\n"):
            if not line:
                continue
            events += 1
            start = line.index(marker) + len(marker)
            seq = int(line[start : line.index(b",", start)])
            if seq > last_seq + 1:
                missing += seq - last_seq - 1
            last_seq = seq
    sock.close()
    results.put({"datagrams": datagrams, "events": events, "missing": missing})


def percentile(ordered: list[float], fraction: float) -> float:
    """The value at ``fraction`` (0..1) of an ascending list (nearest rank)."""
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))
    return ordered[index]


def timed(function: Callable[..., None], totals: list[float]) -> Callable[..., None]:
    """``function`` wrapped to add its wall time (in the reactor thread) to ``totals[0]``."""
    clock = time.perf_counter

    def wrapper(*args: Any, **kwargs: Any) -> None:
        started = clock()
        try:
            function(*args, **kwargs)
        finally:
            totals[0] += clock() - started

    return wrapper


def main() -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=10_000, help="events per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--tick-ms", type=float, default=1.0, help="emit every N ms")
    parser.add_argument("--max-datagram-bytes", type=int, default=65_000)
    options = parser.parse_args()

    directory = tempfile.mkdtemp(dir="/tmp", prefix="evbench")
    path = os.path.join(directory, "events.sock")
    context = multiprocessing.get_context("spawn")
    ready, results = context.Event(), context.Queue()
    collector = context.Process(target=collect, args=(path, ready, results), daemon=True)
    collector.start()
    if not ready.wait(10):
        print("the collector process did not start", file=sys.stderr)
        return 1

    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall

    from tbgpool.events import EVENT_TYPES, EventEmitter, payloads

    latencies_us: list[float] = []
    emitter = EventEmitter(
        reactor, path, EVENT_TYPES, f"bench:{os.getpid()}",
        max_datagram_bytes=options.max_datagram_bytes,
        observe_latency_us=latencies_us.append,
    )
    emit_s, flush_s = [0.0], [0.0]
    emit = timed(emitter.emit, emit_s)
    emitter.flush = timed(emitter.flush, flush_s)  # type: ignore[method-assign]

    tick_s = options.tick_ms / 1000.0
    seconds = reactor.seconds
    state = {"owed": 0.0, "emitted": 0, "ticks": 0, "last": seconds()}

    def tick() -> None:
        # Owed by elapsed time, not by tick count: a late tick catches up, so the rate holds.
        now = seconds()
        state["ticks"] += 1
        state["owed"] += options.rate * (now - state["last"])
        state["last"] = now
        count = int(state["owed"])
        state["owed"] -= count
        base = state["emitted"]
        for index in range(count):
            number = base + index
            data = payloads.share_submitted(
                user=ADDRESS, worker=f"rig{number % 500}", ip="203.0.113.7",
                diff=65536.0, share_diff=65536.0 * (1 + (number % 97)), valid=True, reason=None,
                job_id=f"{number // 5000:x}", nonce=f"{number * 2654435761 % 2**32:08x}",
                nonce2=f"{number:016x}", ntime="6553f100", version="20000000",
                height=820000, block=False,
            )
            emit("share_submitted", data, seconds())
        state["emitted"] = base + count

    loop = LoopingCall(tick)
    loop.clock = reactor

    def finish() -> None:
        loop.stop()
        emitter.close()
        reactor.stop()

    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    state["last"] = seconds()
    loop.start(tick_s)
    reactor.callLater(options.duration, finish)
    reactor.run()
    cpu_s = time.process_time() - cpu_started
    wall_s = time.perf_counter() - wall_started

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stopper:
        stopper.sendto(STOP, path)
    received = results.get(timeout=30)
    collector.join(10)
    shutil.rmtree(directory, ignore_errors=True)

    emitted = state["emitted"]
    ordered = sorted(latencies_us)
    dropped = {reason: count for reason, count in emitter.dropped.items() if count}
    print(f"load:        {options.rate} events/s for {options.duration:g} s "
          f"({state['ticks']} ticks of {options.tick_ms:g} ms), wall {wall_s:.2f} s")
    print(f"emitted:     {emitted} events ({emitted / wall_s:.0f}/s achieved)")
    print(f"sent:        {emitter.sent_events} events in {emitter.sent_datagrams} datagrams "
          f"({emitter.sent_events / max(1, emitter.sent_datagrams):.1f} events/datagram)")
    print(f"dropped:     {sum(dropped.values())} {dropped or ''}".rstrip())
    print(f"received:    {received['events']} events in {received['datagrams']} datagrams, "
          f"{received['missing']} missing by seq")
    print(f"latency µs:  p50 {percentile(ordered, 0.50):.1f}  p99 {percentile(ordered, 0.99):.1f}"
          f"  max {ordered[-1] if ordered else float('nan'):.1f}  "
          f"(validation to datagram sent; target p99 < 1000)")
    print(f"emit+flush:  {(emit_s[0] + flush_s[0]) / max(1, emitted) * 1e6:.2f} µs/event "
          f"(emit {emit_s[0] / max(1, emitted) * 1e6:.2f}, flush "
          f"{flush_s[0] / max(1, emitted) * 1e6:.2f}; time inside the calls)")
    print(f"process CPU: {cpu_s / max(1, emitted) * 1e6:.2f} µs/event "
          f"({cpu_s:.2f} s CPU: emitter, event building, LoopingCall and reactor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
