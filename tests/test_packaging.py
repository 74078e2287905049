"""A non-editable install (``pip install .``, a wheel, ``pip install git+<url>``) gets the whole package:
every module, every Hydra config of the top-level ``conf/`` (as ``mosei_attn/conf``), the resources, the
LICENSE and the console scripts; and the package finds its configs when they lie inside it."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mosei_attn import config

REPO = Path(__file__).resolve().parent.parent
#: What a wheel is built from (the rest of the checkout is not packaged).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "mosei_attn", "conf")
#: pyproject.toml's build requirement, which a build without isolation must meet in this environment.
MIN_SETUPTOOLS = int(re.search(r'"setuptools>=(\d+)', (REPO / "pyproject.toml").read_text())[1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the checkout's sources (a stale build/ folder in the checkout cannot
    hide a missing file, and the build writes nothing into the checkout)."""
    setuptools = pytest.importorskip("setuptools", reason="the [dev] extra brings setuptools")
    if int(setuptools.__version__.split(".")[0]) < MIN_SETUPTOOLS:
        pytest.skip(f"setuptools {setuptools.__version__} < {MIN_SETUPTOOLS}: reinstall the [dev] extra")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        str(src),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("mosei_attn-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_every_config_module_and_resource(wheel):
    names = set(wheel.namelist())
    configs = {
        f"mosei_attn/conf/{p.relative_to(REPO / 'conf').as_posix()}" for p in (REPO / "conf").rglob("*.yaml")
    }
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "mosei_attn").rglob("*.py")}
    resources = {p.relative_to(REPO).as_posix() for p in (REPO / "mosei_attn" / "resources").iterdir()}
    assert len(configs) > 30 and "mosei_attn/conf/train.yaml" in configs
    assert configs - names == set(), "configs missing from the wheel"
    assert modules - names == set(), "modules missing from the wheel (a new subpackage not in pyproject?)"
    assert resources - names == set(), "resources missing from the wheel"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_wheel_declares_every_console_script(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    scripts = dict(parser["console_scripts"])
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == declared
    for name in ("train", "evaluate", "predict", "prepare", "aggregate"):
        assert f"mosei-attn-{name}" in scripts
    for target in scripts.values():  # each names a function that exists
        module, func = target.split(":")
        assert callable(getattr(__import__(module, fromlist=[func]), func)), target


def test_an_installed_package_uses_the_configs_inside_it(tmp_path, monkeypatch):
    """The layout of a wheel install: site-packages/mosei_attn/conf, no conf/ beside the package."""
    package = tmp_path / "site-packages" / "mosei_attn"
    (package / "conf").mkdir(parents=True)
    (package / "conf" / "train.yaml").write_text("seed: 1\n")
    monkeypatch.setattr(config.resources, "files", lambda name: package)
    monkeypatch.setattr(config, "__file__", str(package / "config.py"))
    assert config.config_dir() == str(package / "conf")


def test_a_checkout_uses_its_top_level_conf():
    assert Path(config.CONFIG_DIR) == REPO / "conf"


def test_a_package_without_configs_says_how_to_reinstall(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "mosei_attn"
    package.mkdir(parents=True)
    monkeypatch.setattr(config.resources, "files", lambda name: package)
    monkeypatch.setattr(config, "__file__", str(package / "config.py"))
    with pytest.raises(FileNotFoundError, match=r"no Hydra configs \(train.yaml\) in .*site-packages"):
        config.config_dir()
