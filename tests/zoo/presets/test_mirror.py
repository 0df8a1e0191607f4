"""Download-only presets come from a mirror the install has (issue 26): never from a host kzoo does not run."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys

import pytest

from zoo import presets
from zoo.presets import catalog, download


@pytest.fixture
def no_mirror_settings(tmp_path, monkeypatch):
    """A fresh cache, no KZOO_PRESET_MIRROR and no extra catalogs: what a new user has."""
    home = tmp_path / "home"
    monkeypatch.setenv("KZOO_HOME", str(home))
    monkeypatch.delenv(catalog.MIRROR_ENV, raising=False)
    monkeypatch.delenv(catalog.EXTRA_CATALOGS_ENV, raising=False)
    return home


def test_the_package_catalog_names_no_download_host(no_mirror_settings):
    payload = json.loads(catalog.CATALOG.read_text())
    assert "base_url" not in payload and not any("base_url" in e for e in payload["presets"])
    remote = [e for e in catalog.entries() if not e.packaged]
    assert {e.model for e in remote} >= {"vae", "vae_2d", "dcgan", "wgan_gp"}
    for entry in remote:
        url = entry.url(presets.METADATA)
        assert url == f"{catalog.REPOSITORY_MIRROR.as_uri()}/{entry.model}/{entry.tag}/metadata.json"
        assert download.local_path(url).is_file()


def test_a_download_only_preset_pulls_from_the_repository_mirror_even_offline(no_mirror_settings, monkeypatch):
    monkeypatch.setenv("KZOO_OFFLINE", "1")  # a file mirror needs no network
    [directory] = presets.pull("vae_2d:mnist", progress=False)
    assert directory == no_mirror_settings / "presets" / "vae_2d" / "mnist"
    assert presets.verify(directory)["dataset"] == "mnist"
    assert presets.list_presets("vae_2d:mnist")[0]["where"] == "cached"


def test_without_any_mirror_the_error_says_what_exists_and_what_to_do(no_mirror_settings, monkeypatch, tmp_path):
    monkeypatch.setattr(catalog, "REPOSITORY_MIRROR", tmp_path / "not-a-checkout" / "presets-mirror")
    with pytest.raises(ValueError) as caught:
        presets.pull("vae:mnist", progress=False)
    message = str(caught.value)
    assert "runs no download host" in message and catalog.MIRROR_ENV in message and "presets-mirror" in message
    assert "http" not in message
    row = presets.list_presets("vae:mnist")[0]
    assert row["where"] == "remote" and row["url"] is None


def test_a_host_that_does_not_resolve_is_reported_once_and_truthfully(monkeypatch, tmp_path, caplog):
    lookups = []

    def no_dns(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    dest = tmp_path / "staging" / "model.weights.h5"
    with caplog.at_level(logging.WARNING), pytest.raises(download.DownloadError) as caught:
        download.download("https://kzoo-mirror.example/v1/vae/mnist/model.weights.h5", dest, progress=False)
    message = str(caught.value)
    assert "could not be resolved" in message and "Name or service not known" in message
    assert ".part" not in message and "resume" not in message
    assert lookups == ["kzoo-mirror.example"]  # no retries of a name that does not exist
    assert not [r for r in caplog.records if "interrupted" in r.getMessage()]
    assert not list(tmp_path.rglob("*.part"))


def test_a_refused_connection_is_retried_without_claiming_a_partial_file(monkeypatch, tmp_path, caplog):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with caplog.at_level(logging.WARNING), pytest.raises(download.DownloadError) as caught:
        download.download(f"http://127.0.0.1:{port}/x", tmp_path / "x", progress=False, retries=1)
    assert "after 2 attempts" in str(caught.value) and "Nothing was downloaded" in str(caught.value)
    assert ".part" not in str(caught.value)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "trying again" in warnings[0] and "interrupted" not in warnings[0]


def test_zoo_pull_takes_the_wildcards_zoo_presets_takes(no_mirror_settings):
    cli = [sys.executable, "-m", "zoo.cli"]
    listed = json.loads(
        subprocess.run([*cli, "presets", "*:mnist", "--json"], capture_output=True, text=True, check=True).stdout
    )
    pulled = subprocess.run([*cli, "pull", "*:mnist", "--quiet"], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    directories = pulled.stdout.split()
    assert [d.split("/")[-2] + ":" + d.split("/")[-1] for d in directories] == [
        f"{r['model']}:{r['tag']}" for r in listed
    ]
    assert str(no_mirror_settings / "presets" / "vae" / "mnist") in directories
    nothing = subprocess.run([*cli, "pull", "*:imagenet"], capture_output=True, text=True)
    assert nothing.returncode == 2 and "No published preset matches '*:imagenet'" in nothing.stderr
