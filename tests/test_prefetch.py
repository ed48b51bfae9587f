"""prefetched: the plain iteration's items, order and errors, prepared ahead in a thread."""

import threading
import time

import pytest

from medkeras.data.prefetch import prefetched


def test_same_items_in_order_and_bounded_ahead():
    made, lock = [], threading.Lock()

    def items():
        for i in range(20):
            with lock:
                made.append(i)
            yield i

    seen = []
    for item in prefetched(items(), depth=2):
        time.sleep(0.002)
        with lock:
            ahead = len(made) - len(seen) - 1      # prepared beyond the one in hand
        assert ahead <= 3                          # depth 2 queued + 1 being handed over
        seen.append(item)
    assert seen == list(range(20))
    assert list(prefetched(iter([]))) == [] and list(prefetched(range(3), depth=0)) == [0, 1, 2]


def test_an_error_is_raised_where_it_happened():
    def items():
        yield 1
        yield 2
        raise ValueError("frame 3: unreadable")

    got = []
    with pytest.raises(ValueError, match="frame 3: unreadable"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_the_worker():
    started = threading.active_count()
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = prefetched(endless(), depth=1)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    time.sleep(0.3)
    assert threading.active_count() == started
    assert len(produced) <= 6
