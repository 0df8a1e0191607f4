"""Published presets over HTTP (a server on 127.0.0.1): pull, cache, resume, refuse corrupt files, offline."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo import presets
from zoo.presets import catalog, download


@pytest.fixture
def published(tmp_path, monkeypatch, mirror_server):
    """A real LeNet-300-100 preset published on the mirror and listed in an extra catalog (not in the package)."""
    home = tmp_path / "home"
    monkeypatch.setenv("KZOO_HOME", str(home))
    monkeypatch.setenv("KZOO_OFFLINE", "0")
    monkeypatch.setenv(catalog.MIRROR_ENV, mirror_server.url)
    model = zoo.create("lenet_300_100", weights="mnist")
    source = presets.save_preset(
        model,
        tmp_path / "built" / "mnist-remote",
        name="lenet_300_100",
        dataset="mnist",
        metrics={"accuracy": {"value": 0.984, "command": "zoo evaluate ..."}},
    )
    catalog.publish(source, mirror_server.root)
    extra = tmp_path / "catalog.json"
    catalog.write_catalog(extra, [catalog.entry_for(source, packaged=False)], base_url="https://unused.invalid/v1")
    monkeypatch.setenv(catalog.EXTRA_CATALOGS_ENV, str(extra))
    return model, home


def test_a_published_preset_downloads_once_verifies_and_loads(published, mirror_server, real_images):
    model, home = published
    assert "mnist-remote" in zoo.info("lenet_300_100")["weights"]
    row = next(r for r in presets.list_presets("lenet_300_100") if r["tag"] == "mnist-remote")
    assert row["where"] == "remote" and row["url"].startswith(mirror_server.url)
    loaded = zoo.create("lenet_300_100", weights="mnist-remote")
    images = real_images((28, 28, 1), 4)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    target = home / "presets" / "lenet_300_100" / "mnist-remote"
    assert presets.is_preset_dir(target) and not list(target.parent.glob(".*.download"))  # staging renamed away
    fetched = len(mirror_server.requests)
    assert fetched == 4
    zoo.create("lenet_300_100", weights="mnist-remote")  # cached: no new request
    assert len(mirror_server.requests) == fetched
    assert presets.list_presets("lenet_300_100:mnist-remote")[0]["where"] == "cached"


def test_an_interrupted_download_resumes_with_a_range_request(published, mirror_server):
    weights_path = "/lenet_300_100/mnist-remote/model.weights.h5"
    mirror_server.drop_after[weights_path] = 100_000
    [directory] = presets.pull("lenet_300_100:mnist-remote", progress=False)
    ranges = [r for p, r in mirror_server.requests if p == weights_path]
    assert ranges == [None, "bytes=100000-"]
    presets.verify(directory)


def test_a_corrupt_or_tampered_download_is_refused_and_never_kept(published, mirror_server):
    weights = mirror_server.root / "lenet_300_100" / "mnist-remote" / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt or was tampered with"):
        zoo.create("lenet_300_100", weights="mnist-remote")
    home = published[1]
    assert not (home / "presets" / "lenet_300_100" / "mnist-remote").exists()
    assert not list((home / "presets").rglob("model.weights.h5*"))


def test_offline_mode_says_what_is_missing_and_uses_the_cache(published, monkeypatch):
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    with pytest.raises(
        ValueError, match=r"not in the cache .* KZOO_OFFLINE=1 forbids .* `zoo pull lenet_300_100:mnist-remote`"
    ):
        zoo.create("lenet_300_100", weights="mnist-remote")
    monkeypatch.setenv("KZOO_OFFLINE", "0")
    presets.pull("lenet_300_100:mnist-remote", progress=False)
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    assert zoo.create("lenet_300_100", weights="mnist-remote").count_params() == published[0].count_params()


def test_a_preset_directory_url_and_a_file_url_load(published, mirror_server, tmp_path):
    model, _ = published
    url = f"{mirror_server.url}/lenet_300_100/mnist-remote/"
    by_url = zoo.create("lenet_300_100", weights=url)
    np.testing.assert_array_equal(by_url.get_layer("dense1").kernel.numpy(), model.get_layer("dense1").kernel.numpy())
    pinned = presets.sha256(mirror_server.root / "lenet_300_100" / "mnist-remote" / "metadata.json")
    with pytest.raises(ValueError, match="tampered"):
        zoo.create("lenet_300_100", weights=f"{url}#sha256=" + "0" * 64)  # a wrong pin: refused
    assert zoo.create("lenet_300_100", weights=f"{url}#sha256={pinned}").count_params() == model.count_params()
    local = mirror_server.root / "lenet_300_100" / "mnist-remote"
    assert zoo.create("lenet_300_100", weights=local.as_uri()).count_params() == model.count_params()
    with pytest.raises(ValueError, match="holds weights for 'lenet_300_100', not 'mlp'"):
        zoo.create("mlp", weights=url)


def test_download_rejects_http_errors_with_the_url(mirror_server, tmp_path):
    with pytest.raises(download.DownloadError, match="HTTP 404"):
        download.download(f"{mirror_server.url}/nothing/here", tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_the_catalog_matches_the_packaged_presets():
    """Every packaged preset is listed with the sha256 of each of its files (bench/install_presets.py --catalog-only)."""
    listed = {e.key: e for e in catalog.entries() if e.packaged}
    on_disk = {f"{p.parent.name}:{p.name}": p for p in presets.PACKAGED.glob("*/*") if presets.is_preset_dir(p)}
    assert set(listed) == set(on_disk)
    for key, entry in listed.items():
        assert presets.catalog.pull(entry, progress=False) == on_disk[key]
        metadata = json.loads((on_disk[key] / "metadata.json").read_text())
        assert entry.metrics == metadata["metrics"] and entry.dataset == metadata["dataset"]


def test_zoo_presets_and_pull_from_the_command_line(published, mirror_server):
    env_run = [sys.executable, "-m", "zoo.cli"]
    listing = subprocess.run(
        [*env_run, "presets", "lenet_300_100", "--json"], capture_output=True, text=True, check=True
    )
    rows = {r["tag"]: r for r in json.loads(listing.stdout)}
    assert rows["mnist"]["where"] == "packaged" and rows["mnist-remote"]["where"] == "remote"
    pulled = subprocess.run([*env_run, "pull", "lenet_300_100:mnist-remote", "--quiet"], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip().endswith("lenet_300_100/mnist-remote")
    missing = subprocess.run([*env_run, "pull", "lenet_300_100:imagenet"], capture_output=True, text=True)
    assert missing.returncode == 2 and "No published preset 'lenet_300_100:imagenet'" in missing.stderr


def test_a_stale_partial_file_is_downloaded_again_from_the_start(published, mirror_server, tmp_path):
    """A .part that is not a prefix of the file (left by another version) fails the checksum once, then a full
    download replaces it; nothing is reported as tampered."""
    home = published[1]
    staging = home / "presets" / "lenet_300_100" / ".mnist-remote.download"
    staging.mkdir(parents=True)
    (staging / "model.weights.h5.part").write_bytes(b"\0" * 50_000)
    [directory] = presets.pull("lenet_300_100:mnist-remote", progress=False)
    weights_path = "/lenet_300_100/mnist-remote/model.weights.h5"
    assert [r for p, r in mirror_server.requests if p == weights_path] == ["bytes=50000-", None]
    presets.verify(directory)


def test_names_that_leave_their_directory_are_refused(published, mirror_server, tmp_path, monkeypatch):
    bad = tmp_path / "bad-catalog.json"
    bad.write_text(
        json.dumps(
            {
                "base_url": mirror_server.url,
                "presets": [{"model": "lenet_300_100", "tag": "..", "dataset": "mnist", "metrics": {}, "files": {}}],
            }
        )
    )
    monkeypatch.setenv(catalog.EXTRA_CATALOGS_ENV, str(bad))
    with pytest.raises(ValueError, match="Not a plain tag name"):
        catalog.entries()
    evil = mirror_server.root / "evil" / "mnist"
    evil.mkdir(parents=True)
    (evil / "metadata.json").write_text(
        json.dumps({"files": {"config.json": "0" * 64, "model.weights.h5": "0" * 64, "../../escape": "0" * 64}})
    )
    with pytest.raises(ValueError, match="Not a plain file name"):
        zoo.create("lenet_300_100", weights=f"{mirror_server.url}/evil/mnist/")
    assert not list(tmp_path.rglob("escape*"))


def test_tags_win_over_a_folder_of_the_same_name_and_schemes_ignore_case(
    published, mirror_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()  # e.g. a data folder called mnist next to the user's script
    assert zoo.create("lenet5", weights="mnist").count_params() == 61706
    url = f"{mirror_server.url.replace('http://', 'HTTP://')}/lenet_300_100/mnist-remote/"
    assert zoo.create("lenet_300_100", weights=url).count_params() == published[0].count_params()


def test_an_offline_machine_still_pulls_from_a_file_mirror(published, mirror_server, monkeypatch):
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    monkeypatch.setenv(catalog.MIRROR_ENV, mirror_server.root.as_uri())
    [directory] = presets.pull("lenet_300_100:mnist-remote", progress=False)
    presets.verify(directory)
    assert not mirror_server.requests  # nothing went over the network
