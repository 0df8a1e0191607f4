"""Issue 21: the data directory is found without sourcing scripts/env.sh, and a missing one says what to do."""

from __future__ import annotations

import pytest

from zoo import data
from zoo.cli import main
from zoo.data import settings


@pytest.fixture()
def fresh_home(monkeypatch, tmp_path):
    real = data.data_dir()
    monkeypatch.delenv("KZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    return real


def test_set_data_dir_is_remembered_without_any_variable(fresh_home, capsys):
    assert main(["datasets", "--set-data-dir", str(fresh_home)]) == 0
    assert str(settings.config_file()) in capsys.readouterr().out
    assert data.data_dir() == fresh_home
    _, test = data.load("mnist", "test")
    assert len(test) == 10000 and "offline" in test.source
    assert main(["datasets"]) == 0
    assert f"data directory: {fresh_home} (from {settings.config_file()})" in capsys.readouterr().out


def test_a_missing_data_set_names_the_variable_and_the_command(fresh_home, monkeypatch, tmp_path):
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    with pytest.raises(ValueError) as err:
        data.load("mnist", "test")
    first = str(err.value).splitlines()[0]
    assert f"{tmp_path / 'empty'} (from KZOO_DATA_DIR) has no mnist/" in first
    assert "set KZOO_DATA_DIR=DIR" in first and "zoo datasets --set-data-dir DIR" in first


def test_set_data_dir_refuses_a_missing_folder(fresh_home, tmp_path, capsys):
    assert main(["datasets", "--set-data-dir", str(tmp_path / "nowhere")]) == 2
    assert "No such directory" in capsys.readouterr().err
