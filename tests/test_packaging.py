"""Installed, medkeras claims only its own name: the applications ship as medkeras.apps.*."""

import configparser
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _declared():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    packages = config["options"]["packages"].split()
    mapping = dict(line.split(" = ") for line in
                   config["options"]["package_dir"].strip().splitlines())
    return packages, mapping, config["options.entry_points"]["console_scripts"]


def test_setup_cfg_lists_every_package_of_the_tree():
    packages, mapping, _ = _declared()
    on_disk = set()
    for init in list((ROOT / "medkeras").rglob("__init__.py")) + list(
            (ROOT / "apps").rglob("__init__.py")):
        parts = init.parent.relative_to(ROOT).parts
        name = ".".join(parts)
        on_disk.add("medkeras." + name if parts[0] == "apps" else name)
    assert set(packages) == on_disk
    assert mapping == {"medkeras.apps": "apps"}


def test_the_wheel_installs_only_medkeras_and_its_scripts_find_the_applications(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(tmp_path), str(ROOT)], check=True, timeout=300,
                   capture_output=True)
    wheel = next(tmp_path.glob("medkeras-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"medkeras", wheel.name.split("-py3")[0]
                                                + ".dist-info"}
    for app in ("polyp", "frames", "pe", "cimt"):
        assert f"medkeras/apps/{app}/__main__.py" in names
        assert f"medkeras/apps/{app}/app.py" in names
    scripts = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(
        "entry_points.txt"))).decode()
    for app in ("polyp", "frames", "pe", "cimt"):
        assert f"medkeras-{app} = medkeras.apps.{app}.__main__:main" in scripts
    # Installed (no dependencies: the venv has them), from a folder without ./apps.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True, timeout=300,
                   capture_output=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from medkeras.apps.pe.__main__ import main; main(['--help'])")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(target)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
