"""The preset declarations (zoo/models/*_presets.py) are the source of catalog.json and of one tree per preset."""

import json

from zoo.presets import catalog, declared, store


def test_the_committed_catalog_is_generated_from_the_declarations():
    """Regenerating catalog.json from the declarations and the preset trees gives the committed file."""
    committed = json.loads(catalog.CATALOG.read_text())["presets"]
    generated = sorted(declared.catalog_entries(), key=lambda e: (e["model"], e["tag"]))
    assert [(e["model"], e["tag"]) for e in generated] == [(e["model"], e["tag"]) for e in committed]
    assert generated == committed


def test_each_preset_has_exactly_one_tree():
    """A declared preset lives in zoo/pretrained/ or presets-mirror/, never both, and no tree is undeclared."""
    declarations = declared.declarations()
    keys = {(d["model"], d["tag"]) for d in declarations}
    for d in declarations:
        other = (catalog.REPOSITORY_MIRROR if d["location"] == "packaged" else store.PACKAGED) / d["model"] / d["tag"]
        assert store.is_preset_dir(declared.tree(d)), d
        assert not other.exists(), f"{d['model']}:{d['tag']} has a second copy in {other}"
    for root in (store.PACKAGED, catalog.REPOSITORY_MIRROR):
        trees = {(p.parent.name, p.name) for p in root.glob("*/*") if store.is_preset_dir(p)}
        assert trees <= keys, trees - keys


def test_a_bad_location_is_rejected_with_the_choices(monkeypatch):
    import zoo.models.lenet_presets as module

    bad = ({**module.PRESETS[0], "location": "bench"},)
    monkeypatch.setattr(module, "PRESETS", bad)
    try:
        declared.declarations()
    except ValueError as err:
        assert "packaged" in str(err) and "'bench'" in str(err)
    else:
        raise AssertionError("a declaration with location 'bench' was accepted")


def test_a_declaration_with_stale_metrics_stops_the_catalog(monkeypatch):
    """A reinstalled preset whose declaration still gives the old metrics is refused with the values to declare."""
    import zoo.models.vit_presets as module

    first = min(module.PRESETS, key=lambda d: (d["model"], d["tag"]))  # checked first: no other tree is hashed
    measured = first["metrics"]["accuracy"]["value"]
    stale = {**first, "metrics": {**first["metrics"], "accuracy": {**first["metrics"]["accuracy"], "value": 0.5}}}
    monkeypatch.setattr(module, "PRESETS", tuple(stale if d is first else d for d in module.PRESETS))
    try:
        declared.catalog_entries()
    except ValueError as err:
        message = str(err)
        assert f"{first['model']}:{first['tag']}" in message and "zoo/models/vit_presets.py" in message
        assert repr(measured) in message and "--catalog-only" in message
    else:
        raise AssertionError("a declaration whose metrics differ from its preset's metadata was accepted")
