"""Timing shared by the benchmarks: variants measured in interleaved rounds.

Each round times every variant once, so a burst of load on a shared machine hits all of
them alike rather than one; the benchmarks report the median over rounds.
"""

import time


def interleaved_seconds(variants, rounds):
    """``{name: [seconds of each round]}`` of calling each of ``variants`` (``{name:
    callable}``, already warmed up) once per round, the variants taken in turn."""
    seconds = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return seconds
