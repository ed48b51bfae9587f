"""Overlap preparing the next item with using this one: a bounded background iterator.

Inference commands read a frame, find its candidates and cut its patches (NumPy, OpenCV,
scikit-image: they release the interpreter lock for their heavy parts) and then run the
network (TensorFlow: it releases it too).  :func:`prefetched` runs the preparation in a
worker thread, at most ``depth`` items ahead, so both proceed at once; the items, their
order and any exception are exactly those of the plain iteration.

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

    An exception raised by ``items`` is raised here, at the position where it happened;
    closing the generator early (``break``) stops the worker.
    """
    if depth < 1:
        yield from items
        return
    slots = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as err:          # handed to the consumer, raised there
            slots.put((_DONE, err))

    worker = threading.Thread(target=work, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():              # unblock a worker waiting on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
