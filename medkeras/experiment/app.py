"""The application contract: an application is its domain, plugged into one pipeline.

An application (polyp detection, frame quality, PE, CIMT, or yours) says

* who it is: ``name``, ``title``, its ``classes`` and what its groups are (videos, patients);
* its settings: one dataclass (``settings_class``, validated in ``__post_init__`` with
  :mod:`medkeras.checks`, values stored normalised) and which of its fields are command-line
  flags (``options``);
* how it loads a split of its data (``load_split``), how a training and a test split become
  a :class:`~medkeras.experiment.sweep.PatchTask` (``make_task``), and how it judges a
  finished sweep (``evaluate``: tables and figures in an :class:`Evaluation`, no HTML);
* its own commands (``add_commands``): the inference command (polyp ``detect``, frames
  ``score``, PE ``detect``, CIMT ``measure``) and any other.

The core drives these hooks in a straight line (:func:`run_experiment`): record the data
and settings, load both splits, make the task, run the sweep, write the patch-level report,
evaluate, write the application's report.  The command line is built from the same
declaration (:mod:`medkeras.experiment.cli`), so every application has the same commands
and flags.

This module imports nothing heavy: an application's ``--help`` must not load TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os

__all__ = ["Application", "Evaluation", "Option", "Table", "evaluate_experiment",
           "read_record", "recorded_settings", "run_experiment", "write_evaluation"]


@dataclasses.dataclass(frozen=True)
class Option:
    """A settings field that is also a flag: ``Option("train_patches", "…")`` →
    ``--train-patches``, its default the dataclass default.

    ``type`` parses the text (default: the type of the default value; a ``bool`` field is
    an on/off switch); ``choices`` lists allowed values; ``on_evaluate``: ``evaluate`` takes
    it too, to override the recorded value (e.g. CIMT's dense-inference stride).
    """
    field: str
    help: str
    type: object = None
    choices: tuple = None
    on_evaluate: bool = False

    @property
    def flag(self):
        return "--" + self.field.replace("_", "-")


@dataclasses.dataclass
class Table:
    """A result table: ``heading`` on the page, ``frame`` (a pandas table with readable
    column names), saved as ``csv`` beside the page."""
    heading: str
    frame: object
    csv: str
    note: str = ""


@dataclasses.dataclass
class Evaluation:
    """What an application's ``evaluate`` returns: the ``answer`` (one paragraph, HTML
    allowed), an ``introduction`` (how the models were judged), ``tables`` and
    ``figures`` (``(heading, path)``)."""
    answer: str
    introduction: str = ""
    tables: list = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)


class Application:
    """Subclass this, set the attributes and implement the hooks (see the module doc)."""

    #: Short name: the command (``medkeras-<name>``), the record ``<name>.json`` and the
    #: report folder ``<sweep>/<name>/``.
    name = ""
    #: The report's title.
    title = ""
    #: Class names, by label.
    classes = ()
    #: What a training fraction counts (``"videos"``, ``"patients"``).
    groups = "videos"
    #: Layouts ``--data`` can have (``--format``; the first is the default), if several.
    formats = ()
    #: Built-in synthetic data sets (``--synthetic``), used when there is no ``--data``.
    synthetic = ("small", "medium")
    #: The settings dataclass; it has a ``seed`` field (``--split-seed``) and ``to_json()``.
    settings_class = None
    #: Which settings fields are flags.
    options = ()
    #: Settings of ``demo`` that differ from the defaults (small and quick).
    demo_settings = {}
    #: ``--backbone`` choices (names of ``medkeras.models.ALL_BACKBONES``) and the default.
    backbones = ("squeezenet", "alexnet")
    default_backbone = "squeezenet"

    @property
    def record_name(self):
        return f"{self.name}.json"

    # -- the hooks ---------------------------------------------------------------------
    def load_split(self, data, settings, split, *, out):
        """The ``"train"`` or ``"test"`` split of ``data`` (``{"folder", "format"}`` or
        ``{"synthetic"}``), in whatever form ``make_task`` and ``evaluate`` take.  ``out``
        is the sweep directory, for what is worth keeping (candidates)."""
        raise NotImplementedError

    def describe(self, train, test):
        """One or two lines saying what was loaded (printed by the sweep)."""
        return ""

    def make_task(self, train, test, settings):
        """The sweep's :class:`~medkeras.experiment.sweep.PatchTask`."""
        raise NotImplementedError

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        """Judge every finished cell of ``results`` (a
        :class:`~medkeras.experiment.results.SweepResults`) on ``test``; files (figures)
        go under ``out``.  Returns an :class:`Evaluation`."""
        raise NotImplementedError

    def add_commands(self, commands):
        """Add the application's own subcommands (``commands`` is argparse's
        subparsers); each sets ``run=function(args)``."""

    def class_names(self, directory):
        """The class names of the sweep in ``directory`` (by label): ``classes``, unless
        the application learns them from its data."""
        return tuple(self.classes)

    # -- settings ------------------------------------------------------------------------
    def settings_defaults(self):
        return {f.name: f.default for f in dataclasses.fields(self.settings_class)
                if f.default is not dataclasses.MISSING}

    def make_settings(self, **values):
        """The settings dataclass from ``values`` (validated and normalised there)."""
        return self.settings_class(**values)


def read_record(directory, name):
    """The experiment record ``directory/name`` (data and settings of a sweep)."""
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        raise ValueError(f"{directory}: no {name} here; is it this application's sweep "
                         "directory?")
    from medkeras.io.files import read_json

    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict) \
            or not isinstance(record.get("data"), dict):
        raise ValueError(f"{path}: expected an object with data and settings (written by "
                         "sweep); was it edited?")
    return record


def recorded_settings(app, directory, record, *, overrides=None):
    """The settings object of a sweep directory's ``record`` (:func:`read_record`), with
    ``overrides``; a setting this version does not know (an edited or a newer record) is a
    ``ValueError`` naming the file, not a ``TypeError``."""
    try:
        return app.make_settings(**{**record["settings"], **(overrides or {})})
    except TypeError as err:                       # an unknown or missing setting
        raise ValueError(f"{os.path.join(directory, app.record_name)}: its settings do not "
                         f"fit this version of {app.name} ({err})") from None


def data_source(app, *, folder=None, format=None, synthetic=None):
    """The recorded description of an application's data: a folder (absolute, with its
    layout when the application has several) or a built-in synthetic set."""
    if folder is not None:
        if not os.path.isdir(folder):
            raise ValueError(f"--data {folder}: not a folder")
        source = {"folder": os.path.abspath(folder)}
        if app.formats:
            if format is None:
                format = app.formats[0]
            if format not in app.formats:
                raise ValueError(f"format must be one of {list(app.formats)}, got {format!r}")
            source["format"] = format
        return source
    if synthetic not in app.synthetic:
        raise ValueError(f"{app.name} needs --data FOLDER"
                         + (f" or --synthetic {'|'.join(app.synthetic)}" if app.synthetic
                            else "") + f"; got synthetic={synthetic!r}")
    return {"synthetic": synthetic}


def run_experiment(app, data, settings, config, out, *, auto_depth=False, extend=False,
                   evaluate=True, n_bootstrap=1000, log=print, executor=None):
    """An application's whole experiment, resumable: what ``sweep``, ``train`` and ``demo``
    run.

    1. record ``data`` and ``settings`` in ``out/<name>.json`` (a re-run must use the same);
    2. load the training and the test split; 3. make the task; 4. run every missing cell of
    ``config`` (a :class:`~medkeras.experiment.sweep.SweepConfig`; ``extend``: continue
    the unconverged ones to a larger epoch cap), or with ``auto_depth``
    tune ever deeper while validation improves
    (:func:`~medkeras.experiment.autodepth.choose_depth`); 5. write the patch-level report
    ``out/report.html``; 6. evaluate and write ``out/<name>/report.html``.

    ``executor``: how the cells run (:func:`~medkeras.experiment.sweep.run_sweep`; ``None``
    one after another here).  When cells failed (a Ray executor's, twice), the others are
    reported and evaluated, then :class:`~medkeras.experiment.distributed.CellsFailedError`
    is raised.
    """
    from medkeras.experiment.report import write_report
    from medkeras.experiment.runner import record_or_check

    if auto_depth and executor is not None:
        raise ValueError("automatic depth (--schemes auto) tunes one depth after another in "
                         "this process; use it without --executor ray")
    os.makedirs(out, exist_ok=True)
    record_or_check(os.path.join(out, app.record_name),
                    {"data": data, "settings": settings.to_json()},
                    mismatch=f"{out} holds an experiment with other data or settings "
                             f"({app.record_name}); use another --out or remove it")
    train = app.load_split(data, settings, "train", out=out)
    test = app.load_split(data, settings, "test", out=out)
    summary = app.describe(train, test)
    if summary and log:
        log(summary)
    task = app.make_task(train, test, settings)
    del train
    failed = []
    if auto_depth:
        from medkeras.experiment.autodepth import choose_depth

        if config.fractions != (1.0,) or len(config.seeds) != 1:
            raise ValueError("automatic depth runs one seed on all the training data: "
                             "use it without --fractions and with one seed")
        choice = choose_depth(task, config, out, seed=config.seeds[0], log=log)
        if log:
            log(f"automatic depth: {choice['chosen']} ({choice['reason']})")
    else:
        from medkeras.experiment.sweep import failed_cells, run_sweep

        failed = failed_cells(run_sweep(task, config, out, log=log, extend=extend,
                                        executor=executor))
    del task
    try:
        path = write_report(out, n_bootstrap=n_bootstrap)
        if log:
            log(f"patch-level report: {path}")
    except ValueError as err:        # e.g. test patches of one class in a tiny demo
        if log:
            log(f"patch-level report skipped: {err}")
    path = None
    if evaluate:
        path = evaluate_experiment(app, out, test=test, n_bootstrap=n_bootstrap, log=log)
    if failed:
        from medkeras.experiment.distributed import CellsFailedError

        raise CellsFailedError(failed)
    return path


def evaluate_experiment(app, directory, *, test=None, overrides=None, n_bootstrap=1000,
                        log=print):
    """Evaluate a sweep directory with its recorded data and settings (``overrides``
    replace some, e.g. an inference stride), write the application's report; returns its
    path."""
    from medkeras.experiment.results import SweepResults

    record = read_record(directory, app.record_name)
    settings = recorded_settings(app, directory, record, overrides=overrides)
    if test is None:
        test = app.load_split(record["data"], settings, "test", out=directory)
    out = os.path.join(directory, app.name)
    os.makedirs(out, exist_ok=True)
    results = SweepResults(directory)
    evaluation = app.evaluate(results, test, settings, out=out, n_bootstrap=n_bootstrap)
    path = write_evaluation(app, evaluation, out, record, results=results)
    if log:
        for table in evaluation.tables[:1]:
            log(table.frame.to_string(index=False))
        log(f"{app.name} report: {path}")
    return path


def write_evaluation(app, evaluation, out, record, *, results=None):
    """``out/report.html`` (and one CSV per table) from an :class:`Evaluation`; with the
    sweep's ``results``, the answer goes on with which depth to use
    (:func:`~medkeras.experiment.verdict.sweep_verdict`, on the test units' scores) and the
    page lists every run with its status."""
    from medkeras.atomic import write_csv_atomic
    from medkeras.experiment.page import Page

    answer = evaluation.answer
    if results is not None and results.cells:
        from medkeras.experiment.verdict import sweep_verdict

        answer += f"</p><p><b>Which depth.</b> {sweep_verdict(results).html}"
    page = Page(app.title, answer=answer)
    if evaluation.introduction:
        page.add_text("How the models were judged", evaluation.introduction)
    for table in evaluation.tables:
        write_csv_atomic(os.path.join(out, table.csv), table.frame)
        page.add_table(table.heading, table.frame, note=table.note)
    for heading, path in evaluation.figures:
        page.add_figure(heading, path, relative_to=out)
    if results is not None and results.cells:
        from medkeras.experiment.report import RUN_STATUS_NOTE, run_table

        page.add_table("Every run", run_table(results), note=RUN_STATUS_NOTE)
    page.add_configuration(record)
    return page.write(os.path.join(out, "report.html"))
