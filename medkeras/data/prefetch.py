"""Overlap preparing the next item with using this one: a bounded background iterator.

Inference commands read a frame, find its candidates and cut its patches (NumPy, OpenCV,
scikit-image: they release the interpreter lock for their heavy parts) and then run the
network (TensorFlow: it releases it too).  :func:`prefetched` runs the preparation in a
worker thread, at most ``depth`` items ahead, so both proceed at once; the items, their
order and any exception are exactly those of the plain iteration.  Sweeps' test-time
scoring (:func:`medkeras.data.predict_in_chunks`) cuts its chunks of patches through it.

>>> list(prefetched(iter(range(5))))
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import queue
import threading

__all__ = ["prefetched"]

_DONE = object()


def prefetched(items, depth=1):
    """Iterate over ``items``, preparing up to ``depth`` ahead in a worker thread.

    At most ``depth + 1`` items exist at once: the one in the caller's hands (until it asks
    for the next) and ``depth`` prepared or being prepared, so memory is bounded whatever
    the number of items.  An exception raised by ``items`` is raised here, at the position
    where it happened; closing the generator early (``break``) stops the worker.
    """
    if depth < 1:
        yield from items
        return
    permits = threading.Semaphore(depth + 1)     # one per item alive
    ready = queue.Queue()
    stop = threading.Event()
    source = iter(items)

    def work():
        while True:
            while not permits.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                item = next(source)
            except StopIteration:
                ready.put((_DONE, None))
                return
            except BaseException as err:      # handed to the consumer, raised there
                ready.put((_DONE, err))
                return
            ready.put((item, None))

    worker = threading.Thread(target=work, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
            permits.release()                 # the caller is done with this item
    finally:
        stop.set()
        worker.join()
