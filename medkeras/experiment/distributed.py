"""Sweep cells as Ray tasks: several cells at once, on this machine or on a Ray cluster.

``run_sweep(..., executor=RayExecutor(...))`` (the command line: ``sweep --executor ray``)
submits every cell that has no finished result on disk as one Ray task with the resources
it declares (``cpus_per_cell``, ``gpus_per_cell``); Ray places them on the machine or the
cluster and runs as many at once as fit.  Each task runs the same function as the serial
sweep (:func:`~medkeras.experiment.sweep.sweep_cell`) and writes its results atomically into
the sweep directory, which is the source of truth: a worker that dies loses only its
running cell, which Ray retries (resuming from that cell's last epoch checkpoint), and a
re-run of the sweep trains only the cells still missing.  A cell that fails twice is a row
with ``status`` ``failed`` and its ``error``; the others go on.

On a cluster the sweep directory (and ``--weights`` when it is a file) must be a path
every node sees (a shared filesystem), and medkeras must be installed on every node.

Ray is optional (``pip install medkeras[ray]``) and imported only when this executor runs.
"""

import dataclasses
import logging
import math
import os
import time

__all__ = ["CellsFailedError", "RayExecutor", "RayNotInstalledError", "SweepProgress",
           "import_ray", "worker_environment"]

#: Seconds between progress updates while no cell finishes.
PROGRESS_INTERVAL_S = 10.0


class CellsFailedError(RuntimeError):
    """Cells of a sweep failed (twice); the others finished and were evaluated.  The
    command line prints one ``error:`` line and exits 1; a re-run retries the failed cells.
    ``cells``: ``(scheme, fraction, seed, error)`` of each."""

    def __init__(self, cells):
        self.cells = list(cells)
        listed = "; ".join(f"{scheme} | {fraction:g} | {seed}: {error}"
                           for scheme, fraction, seed, error in self.cells)
        super().__init__(f"{len(self.cells)} cell(s) failed ({listed}); the others are "
                         "finished and evaluated; re-run the same command to retry them")


class RayNotInstalledError(ValueError):
    """``--executor ray`` without Ray installed (a ``ValueError``: the command line prints
    one ``error:`` line and exits 2)."""


def import_ray():
    """The ``ray`` module, or :class:`RayNotInstalledError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(
            "the Ray executor needs Ray, which is not installed: pip install medkeras[ray] "
            "(or pip install 'ray>=2.9,<3')") from None
    return ray


def worker_environment(cpus):
    """Environment of a cell's worker: TensorFlow quiet, as many threads as the cell has
    CPUs (so cells sharing a machine do not oversubscribe it), and GPU memory taken as
    needed (so cells sharing a GPU, ``gpus_per_cell`` below 1, fit).

    TensorFlow's CPU results depend on its thread count (a different reduction order), so
    a cell's numbers equal those of a serial sweep run with the same threads
    (``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS`` set to ``cpus``).

    >>> worker_environment(2)["TF_NUM_INTRAOP_THREADS"]
    '2'
    """
    threads = str(max(1, math.ceil(cpus)))
    return {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads,
            "OMP_NUM_THREADS": threads, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def cell_task(task, config, cell, out_dir, extend):
    """What one Ray task runs: one cell, exactly as the serial sweep runs it."""
    from medkeras.experiment.sweep import sweep_cell

    return sweep_cell(task, config, cell, out_dir, extend=extend)


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    """Run a sweep's cells as Ray tasks.

    ``address``: the Ray cluster to join (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``);
    ``None`` starts a local Ray for this machine (and stops it at the end), unless Ray is
    already initialised in this process, which is then used as it is.
    ``cpus_per_cell``, ``gpus_per_cell``: the resources each cell declares; a cell given
    more than one GPU trains on them all (``tf.distribute.MirroredStrategy``).
    ``retries``: how often a cell whose worker died or that raised is run again.
    """
    address: str = None
    cpus_per_cell: float = 1
    gpus_per_cell: float = 0
    retries: int = 1

    def __post_init__(self):
        if not self.cpus_per_cell > 0:
            raise ValueError(f"cpus_per_cell must be > 0; Received: {self.cpus_per_cell}")
        if not self.gpus_per_cell >= 0:
            raise ValueError(f"gpus_per_cell must be >= 0; Received: {self.gpus_per_cell}")
        if self.gpus_per_cell > 1 and self.gpus_per_cell != int(self.gpus_per_cell):
            raise ValueError("gpus_per_cell above 1 must be a whole number; Received: "
                             f"{self.gpus_per_cell}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0; Received: {self.retries}")

    def run_cells(self, task, config, cells, out_dir, *, verbose=0, log=print, extend=False):
        """Every cell's row, in the order of ``cells``: finished ones read from disk, the
        others run as Ray tasks (``verbose`` is ignored: the workers train silently)."""
        from medkeras.experiment.sweep import (cell_summary, failed_cell, finished_cell,
                                               is_skipped)
        from medkeras.experiment.results import cell_name

        ray = import_ray()
        out_dir = os.path.abspath(out_dir)          # the workers' paths (a shared filesystem)
        rows = {}
        for cell in cells:
            record = finished_cell(os.path.join(out_dir, "cells", cell_name(*cell)), config,
                                   extend=extend)
            if record is not None:
                rows[cell] = record
        pending = [cell for cell in cells if cell not in rows]
        started = self._start(ray) if pending else False
        try:
            progress = SweepProgress(task.name, len(cells), done=len(rows), out_dir=out_dir,
                                     show=bool(log), slots=self._slots(ray) if pending else 0)
            refs = self._submit(ray, task, config, pending, out_dir, extend)
            progress.update(running=len(refs))
            unavailable_logged = False
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=PROGRESS_INTERVAL_S)
                for ref in ready:
                    cell = refs.pop(ref)
                    try:
                        rows[cell] = ray.get(ref)
                    except ray.exceptions.RayError as err:    # failed again after retries
                        rows[cell] = failed_cell(cell, error_text(err))
                    if log and is_skipped(rows[cell]):
                        if not unavailable_logged:
                            log(f"fine-tuning cells {rows[cell]['note']}")
                        unavailable_logged = True
                    elif log:
                        progress.write(cell_summary(rows[cell]))
                    progress.cell_ended(failed=rows[cell].get("status") == "failed")
                progress.update(running=len(refs))
            progress.close()
        finally:
            if started:
                ray.shutdown()
        return [rows[cell] for cell in cells]

    def _start(self, ray):
        """Join ``address`` or start a local Ray; whether this call started it (to stop)."""
        if ray.is_initialized():
            return False
        ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
        return True

    def _submit(self, ray, task, config, cells, out_dir, extend):
        """One task per cell; the task's data is put once into Ray's object store."""
        if not cells:
            return {}
        remote = ray.remote(
            num_cpus=self.cpus_per_cell, num_gpus=self.gpus_per_cell,
            max_retries=self.retries, retry_exceptions=True,
            # A GPU cell gets a fresh process: TensorFlow sees the GPUs it was started with.
            max_calls=1 if self.gpus_per_cell else 0,
            runtime_env={"env_vars": worker_environment(self.cpus_per_cell)})(cell_task)
        task_ref = ray.put(task)
        return {remote.remote(task_ref, config, cell, out_dir, extend): cell for cell in cells}

    def _slots(self, ray):
        """How many cells the cluster runs at once, from its resources now."""
        resources = ray.cluster_resources()
        slots = resources.get("CPU", 0) // self.cpus_per_cell
        if self.gpus_per_cell:
            slots = min(slots, resources.get("GPU", 0) // self.gpus_per_cell)
        return max(1, int(slots))


def error_text(err):
    """One line on why a Ray task failed: the cell's own exception when it raised one."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"


class SweepProgress:
    """One progress line for a sweep: cells done, running, failed, and the time left
    (from the rate of the cells finished so far by this run); in the terminal (a tqdm
    line) and appended to ``out_dir/sweep.log`` at every change."""

    def __init__(self, name, total, *, done, out_dir, show=True, slots=1):
        from tqdm.auto import tqdm

        self.name, self.total, self.done, self.failed = name, total, done, 0
        self.slots, self.running = slots, 0
        self.log_path = os.path.join(out_dir, "sweep.log")
        self._first_done, self._start = done, time.monotonic()
        self._bar = tqdm(total=total, initial=done, desc=f"sweep {name}", unit="cell",
                         disable=not show, bar_format="{desc}")
        self._last = None

    def cell_ended(self, *, failed=False):
        self.done += 1
        self.failed += failed
        self._bar.update(1)

    def update(self, *, running):
        """Show and log the line (logged only when it changed)."""
        self.running = min(running, self.slots)
        line = self.line()
        self._bar.set_description_str(f"sweep {self.name}: {line}", refresh=True)
        if line != self._last:
            self._last = line
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} sweep {self.name}: {line}\n")

    def line(self):
        """E.g. ``2/4 cells done, 2 running, 0 failed, about 1.5 min left``."""
        text = (f"{self.done}/{self.total} cells done, {self.running} running, "
                f"{self.failed} failed")
        finished_here = self.done - self._first_done
        if self.done < self.total and finished_here:
            seconds = (time.monotonic() - self._start) / finished_here * (self.total - self.done)
            text += f", about {seconds / 60:.1f} min left"
        return text

    def write(self, text):
        """A line above the progress line (a finished cell)."""
        self._bar.write(text)

    def close(self):
        self.update(running=0)
        self._bar.close()
