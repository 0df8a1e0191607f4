"""One installable import name: ``zoo``, with the repository's training/ and serving/ folders as zoo.training and
zoo.serving (pyproject's package-dir), and their doctests run under those names.

pytest's ``--doctest-modules`` would import ``training/engine.py`` as a top-level ``training.engine`` (a second copy
of the module, under the old name), so the doctests of these two packages run here instead.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"zoo.training": "training", "zoo.serving": "serving"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_distribution_installs_one_top_level_name_and_every_package():
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == MAPPED
    folders = {"zoo." + ".".join(p.parent.relative_to(ROOT / "zoo").parts) for p in (ROOT / "zoo").rglob("__init__.py")}
    folders = {name.rstrip(".") for name in folders}
    for package, folder in MAPPED.items():
        folders |= {
            ".".join([package, *p.parent.relative_to(ROOT / folder).parts])
            for p in (ROOT / folder).rglob("__init__.py")
        }
    assert sorted(setuptools["packages"]) == sorted(folders)
    assert {name.split(".")[0] for name in setuptools["packages"]} == {"zoo"}


@pytest.mark.parametrize("package", sorted(MAPPED))
def test_the_mapped_packages_import_from_their_folders(package):
    module = importlib.import_module(package)
    assert Path(module.__file__).resolve() == ROOT / MAPPED[package] / "__init__.py"


def _python_files():
    for folder in ("zoo", "training", "serving", "tests", "bench", "scripts"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _sources():
    """(place, Python source) of every project file and every notebook code cell (IPython magics left out)."""
    import json

    for path in _python_files():
        yield path.relative_to(ROOT), path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                yield (
                    f"{path.relative_to(ROOT)} cell {i}",
                    "\n".join(l for l in lines if not l.lstrip().startswith(("%", "!"))),
                )


def test_nothing_imports_the_old_top_level_names():
    """``import training`` would work by accident from the repository root (it is on sys.path there), never installed."""
    found = []
    for place, source in _sources():
        for node in ast.walk(ast.parse(source, str(place))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            found += [
                f"{place}:{node.lineno}: {name}" for name in names if name.split(".")[0] in ("training", "serving")
            ]
    assert not found, "Import zoo.training / zoo.serving instead:\n" + "\n".join(found)


def _mapped_modules() -> list[str]:
    return [
        f"{package}.{path.stem}" if path.stem != "__init__" else package
        for package, folder in sorted(MAPPED.items())
        for path in sorted((ROOT / folder).glob("*.py"))
    ]


@pytest.mark.parametrize("name", _mapped_modules())
def test_doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} doctest examples in {name} failed (above)"


@pytest.mark.slow
def test_the_built_wheel_holds_one_top_level_package_with_the_mapped_folders(tmp_path):
    import shutil
    import subprocess
    import sys
    import zipfile

    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path)]
    had_build = (ROOT / "build").exists()
    done = subprocess.run([*command, str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    if not had_build:  # setuptools builds in the source tree's build/
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = tmp_path.glob("kzoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.startswith("kzoo-")} == {"zoo"}
    for package, folder in MAPPED.items():
        expected = {f"{package.replace('.', '/')}/{p.name}" for p in (ROOT / folder).glob("*.py")}
        assert expected <= set(names), sorted(expected - set(names))
    assert "zoo/pretrained/lenet5/mnist/model.weights.h5" in names
