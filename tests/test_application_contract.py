"""The application contract, through a toy application: what a new application writes (its
settings, its data, its task, its evaluation) and what it then gets (the whole command line,
resumable sweeps, reports, export)."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from medkeras.experiment.app import Application, Evaluation, Option, Table
from medkeras.experiment.cli import application_main
from medkeras.experiment.results import SweepResults
from tests.test_experiment_sweep import fake_depth_cells, pretrained_file


@dataclasses.dataclass
class ToySettings:
    patches: int = 24
    seed: int = 0

    def __post_init__(self):
        from medkeras.checks import integer_at_least

        self.patches = integer_at_least(self.patches, "patches", 8)
        self.seed = integer_at_least(self.seed, "seed", 0)

    def to_json(self):
        return dataclasses.asdict(self)


class ToyApplication(Application):
    """Bright patches against dark ones; a test unit is a pair of patches."""
    name = "toy"
    title = "Toy: bright or dark"
    classes = ("dark", "bright")
    settings_class = ToySettings
    options = (Option("patches", "patches per split"),)
    demo_settings = {"patches": 16}

    def load_split(self, data, settings, split, *, out):
        rng = np.random.default_rng([settings.seed, split == "test"])
        y = np.arange(settings.patches) // 2 % 2          # pairs of one class
        x = rng.normal(0, 20, (len(y), 227, 227, 3)).astype(np.float32)
        return x + 15 * y[:, None, None, None], y

    def make_task(self, train, test, settings):
        from medkeras.experiment.sweep import PatchTask

        (x, y), (x_test, y_test) = train, test
        return PatchTask("toy", x, y, np.arange(len(y)) // 2, x_test, y_test,
                         test_units=np.arange(len(y_test)) // 2)

    def evaluate(self, results, test, settings, *, out, n_bootstrap):
        units = np.arange(len(test[1]) // 2)
        labels = test[1][::2]
        rows = [{"model": label, "mean score of bright pairs": float(s[labels == 1].mean())}
                for label, s in results.scores_by_label(units).items()]
        return Evaluation(answer=f"{len(rows)} models judged.",
                          tables=[Table("Scores", pd.DataFrame(rows), "scores.csv")])


def _main(*argv):
    return application_main(ToyApplication(), [str(a) for a in argv])


def test_a_new_application_gets_every_command(tmp_path, capsys):
    weights = pretrained_file(tmp_path)
    out = tmp_path / "sweep"
    common = ["--out", out, "--epochs", "1", "--batch", "8", "--weights", weights]
    quick = ["--range-test-steps", "10", "--bootstrap", "50"]        # the shortest range test
    assert _main("sweep", "--schemes", "scratch", *common, *quick) == 0
    results = SweepResults(out)
    assert [c.label for c in results.cells] == ["scratch | 1 | 0"]
    page = (out / "toy" / "report.html").read_text()
    assert page.index("1 models judged.") < page.index("<h2>")         # the answer first
    assert pd.read_csv(out / "toy" / "scores.csv").model.tolist() == ["scratch | 1 | 0"]
    assert json.loads((out / "toy.json").read_text())["settings"] == {"patches": 24, "seed": 0}

    # `train` adds a scheme, a fraction or a seed to an existing sweep directory ...
    assert _main("train", "--scheme", "FT:only conv10", "--seed", "1", *common, *quick) == 0
    results = SweepResults(out)
    assert [c.label for c in results.cells] == ["scratch | 1 | 0", "FT:only conv10 | 1 | 1"]
    assert len(pd.read_csv(out / "toy" / "scores.csv")) == 2
    # ... but never mixes another recipe or other data into it.
    assert _main("train", "--scheme", "scratch", *common[:-4], "--epochs", "2", "--batch",
                 "8", "--weights", weights, *quick) == 2
    assert "different sweep" in capsys.readouterr().err
    assert _main("train", "--scheme", "scratch", "--patches", "16", *common, *quick) == 2
    assert "other data or settings" in capsys.readouterr().err

    before = (out / "toy" / "scores.csv").read_text()
    assert _main("evaluate", out, "--bootstrap", "50") == 0
    assert (out / "toy" / "scores.csv").read_text() == before
    assert _main("report", out, "--bootstrap", "50") == 0
    assert (out / "report.html").is_file()
    exported = tmp_path / "model"
    assert _main("export", out, "--scheme", "FT:only conv10", "--seed", "1",
                 "--out", exported) == 0
    info = json.loads((exported / "info.json").read_text())
    assert info["application"] == "toy" and info["classes"] == ["dark", "bright"]
    assert _main("export", out, "--scheme", "FT:fire9-conv10", "--out", tmp_path / "x") == 2
    assert "no finished cell" in capsys.readouterr().err


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    assert _main("evaluate", tmp_path) == 2
    assert "no toy.json here" in capsys.readouterr().err
    assert _main("sweep", "--out", tmp_path / "s", "--patches", "2") == 2
    assert "patches must be an integer >= 8" in capsys.readouterr().err
    assert _main("sweep", "--out", tmp_path / "s", "--data", tmp_path / "missing") == 2
    assert "not a folder" in capsys.readouterr().err
    assert _main("sweep", "--out", tmp_path / "s", "--scratch-inits", "uniformish") == 2
    assert "init must be one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _main("sweep", "--out", tmp_path / "s", "--backbone", "resnet")
    assert "invalid choice" in capsys.readouterr().err


def test_automatic_depth_from_the_command_line(tmp_path, monkeypatch):
    tried = fake_depth_cells(monkeypatch)
    assert _main("sweep", "--out", tmp_path / "a", "--schemes", "auto", "--no-evaluate",
                 "--weights", pretrained_file(tmp_path)) == 0
    assert tried == ["FT:only conv10", "FT:fire9-conv10", "FT:fire8-conv10"]
    chosen = json.loads((tmp_path / "a" / "auto_depth.json").read_text())["chosen"]
    assert chosen == "FT:fire9-conv10"
    assert _main("sweep", "--out", tmp_path / "b", "--schemes", "auto",
                 "--fractions", "1,0.5") == 2
