"""``import zoo`` turns TensorFlow's oneDNN kernels on where TensorFlow leaves them off, unless the user chose."""

import os
import platform
import subprocess
import sys

import pytest

from zoo import cpu_kernels


@pytest.fixture
def x86_linux_before_tensorflow(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)


def test_sets_the_variable_on_x86_linux_before_tensorflow(x86_linux_before_tensorflow):
    environ = {}
    assert cpu_kernels.prefer_onednn_kernels(environ)
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}


def test_the_users_choice_wins(x86_linux_before_tensorflow):
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert not cpu_kernels.prefer_onednn_kernels(environ)
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "0"}


def test_nothing_changes_elsewhere_or_once_tensorflow_is_imported(x86_linux_before_tensorflow, monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    environ = {}
    assert not cpu_kernels.prefer_onednn_kernels(environ) and environ == {}
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert not cpu_kernels.prefer_onednn_kernels(environ) and environ == {}


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"), reason="x86-64 Linux")
def test_import_zoo_turns_onednn_on_for_tensorflow():
    """A fresh interpreter: ``import zoo`` then TensorFlow, which reports its oneDNN kernels on at start-up."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    code = "import os, zoo; print(os.environ['TF_ENABLE_ONEDNN_OPTS']); import tensorflow"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1"]
    assert "oneDNN custom operations are on" in done.stderr
