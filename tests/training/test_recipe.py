"""The short-budget recipe options of ``zoo train``: schedules, label smoothing, Nesterov SGD, weight decay, cutout,
mixup / CutMix, XLA."""

import json

import keras
import numpy as np
import pytest

import zoo
from zoo.cli import build_parser
from zoo.cli.training import command_config
from zoo.losses import SmoothedSparseCrossentropy
from zoo.training import TrainConfig, train
from zoo.training.classification import training_loss
from zoo.training.optim import OneCycle, make_optimizer, make_schedule


def _curve(schedule, steps):
    return np.array([float(schedule(t)) for t in steps])


def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    lr = _curve(make_schedule("warmup_cosine", 0.2, 1000, warmup_steps=100), range(0, 1001, 10))
    assert lr[0] == 0.0 and lr[10] == pytest.approx(0.2)  # step 100: the peak
    assert np.all(np.diff(lr[:11]) > 0) and np.all(np.diff(lr[10:]) <= 1e-9)
    assert lr[5] == pytest.approx(0.1, rel=1e-5) and lr[-1] == pytest.approx(0.0, abs=1e-7)
    default = make_schedule("warmup_cosine", 0.2, 1000)  # 5% of the run
    assert float(default(50)) == pytest.approx(0.2) and float(default(25)) == pytest.approx(0.1, rel=1e-5)


def test_one_cycle_goes_up_then_anneals_and_serialises():
    schedule = make_schedule("one_cycle", 0.4, 1000)  # warm-up 30% by default
    lr = _curve(schedule, range(0, 1001, 10))
    assert lr[0] == pytest.approx(0.4 / 25) and lr.max() == pytest.approx(0.4) and int(np.argmax(lr)) == 30
    assert np.all(np.diff(lr[:31]) > 0) and np.all(np.diff(lr[30:]) < 0)
    assert lr[-1] == pytest.approx(0.4 / 25e4, rel=1e-3)
    copy = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(copy, OneCycle) and float(copy(420)) == pytest.approx(float(schedule(420)))
    with pytest.raises(ValueError, match="warmup_steps"):
        make_schedule("one_cycle", 0.4, 100, warmup_steps=100)


def test_sgd_is_nesterov_and_weight_decay_skips_batchnorm_and_biases():
    opt = make_optimizer("sgd", 0.1, 5e-4)
    assert opt.nesterov and opt.momentum == pytest.approx(0.9)
    model = zoo.create("resnet20")
    decayed = {v.path for v in model.trainable_variables if opt._use_weight_decay(v)}
    names = [v.path for v in model.trainable_variables]
    assert any("kernel" in n for n in decayed)
    assert all(n.endswith("kernel") for n in decayed), sorted(decayed)[:5]
    assert any(n.endswith("gamma") for n in names) and any(n.endswith("bias") for n in names)


def test_label_smoothing_loss_matches_the_definition():
    logits = np.array([[3.0, 0.5, -1.0], [0.0, 1.0, 2.0]], dtype="float32")
    labels = np.array([0, 2])
    targets = np.eye(3)[labels] * 0.7 + 0.3 / 3  # s = 0.3
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = float(np.mean(-(targets * log_p).sum(-1)))
    assert float(SmoothedSparseCrossentropy(0.3)(labels, logits)) == pytest.approx(expected, rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert float(SmoothedSparseCrossentropy(0.0)(labels, logits)) == pytest.approx(float(plain), rel=1e-5)
    model = zoo.create("lenet5")
    assert isinstance(training_loss(model, 0.1), SmoothedSparseCrossentropy)
    with pytest.raises(ValueError, match="label_smoothing"):
        SmoothedSparseCrossentropy(1.0)


def test_cutout_zeroes_one_square_clipped_at_the_border():
    import tensorflow as tf

    from zoo.data.pipeline import _cutout

    sides = []
    for i in range(40):
        out = _cutout(tf.ones((32, 32, 3)), tf.constant([7, i])).numpy()
        zero = np.all(out == 0, axis=-1)
        rows, cols = np.flatnonzero(zero.any(1)), np.flatnonzero(zero.any(0))
        assert zero.sum() == len(rows) * len(cols)  # one rectangle
        assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
        assert 8 <= len(rows) <= 16 and 8 <= len(cols) <= 16 and np.all(out[~zero] == 1)
        sides += [len(rows), len(cols)]
    assert 16 in sides and min(sides) < 16  # whole squares inside, clipped ones at the border


def test_cutout_augmentation_in_the_pipeline(cifar10_test):
    from zoo.data.pipeline import make_pipeline

    spec, test = cifar10_test
    images, labels = test.images[:64], test.labels[:64]

    def batch(augment):
        return next(
            iter(make_pipeline(spec, images, labels, batch_size=64, training=True, augment=augment, seed=5, epochs=1))
        )[0].numpy()

    cut, small_cut, plain = batch("crop_flip_cutout"), batch("crop_flip_cutout8"), batch("crop_flip")
    zeros = lambda x: int(np.all(x == 0, axis=-1).sum())  # noqa: E731
    assert zeros(cut) > zeros(plain) + 64 * 64  # at least an 8x8 square more per image
    # the same seeds centre the 8x8 square where the 16x16 one was: more zeros than none, fewer than 16x16
    assert zeros(plain) + 64 * 16 < zeros(small_cut) < zeros(cut)


def _batch(cifar10_test, n=16):
    spec, test = cifar10_test
    images = test.images[:n].astype("float32") / 255.0
    return spec, images, np.eye(10, dtype="float32")[test.labels[:n]], test.labels[:n]


def test_mixup_blends_each_image_with_a_partner_in_the_proportion_of_its_label(cifar10_test):
    import tensorflow as tf

    from zoo.data.mixing import mixup

    _, images, onehot, labels = _batch(cifar10_test)
    mixed, targets = (t.numpy() for t in mixup(tf.constant(images), tf.constant(onehot), tf.constant([3, 4])))
    np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)
    partners = set()
    for i in range(len(images)):  # mixed_i = lam x_i + (1 - lam) x_j for one partner j and the batch's lam
        fits = [
            j
            for j in range(len(images))
            for lam in [targets[i, labels[i]] if labels[i] != labels[j] else None]
            if lam is not None and np.allclose(mixed[i], lam * images[i] + (1 - lam) * images[j], atol=1e-5)
        ]
        partners.update(fits)
    assert len(partners) > len(images) // 2  # a permutation: most images are somebody's partner
    again, _ = mixup(tf.constant(images), tf.constant(onehot), tf.constant([3, 4]))
    other, _ = mixup(tf.constant(images), tf.constant(onehot), tf.constant([3, 5]))
    np.testing.assert_array_equal(again.numpy(), mixed)  # stateless: the seed decides everything
    assert not np.allclose(other.numpy(), mixed)


def test_cutmix_pastes_one_box_and_weights_labels_by_the_pixels_kept(cifar10_test):
    import tensorflow as tf

    from zoo.data.mixing import cutmix

    _, images, onehot, labels = _batch(cifar10_test)
    for seed in range(6):
        mixed, targets = (t.numpy() for t in cutmix(tf.constant(images), tf.constant(onehot), tf.constant([seed, 1])))
        changed = np.any(mixed != images, axis=-1).any(axis=0)  # (32, 32): pixels any image took from another
        rows, cols = np.nonzero(changed)
        if len(rows):  # one rectangle, the same in every image
            box = np.zeros_like(changed)
            box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
            np.testing.assert_array_equal(changed, box)
        kept = 1 - changed.mean()
        own = targets[np.arange(len(labels)), labels]
        np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)
        assert np.all(own >= kept - 1e-4)  # kept share, plus the partner's when it has the same class
        assert np.any(np.isclose(own, kept, atol=1e-4)) or kept > 0.999
        outside = ~box if len(rows) else np.ones_like(changed)
        np.testing.assert_array_equal(mixed[:, outside], images[:, outside])


def test_mixed_pipeline_yields_class_distributions_and_resumes_exactly(cifar10_test):
    from zoo.data.pipeline import make_pipeline

    spec, test = cifar10_test
    images, labels = test.images[:96], test.labels[:96]

    def batches(**kw):
        ds = make_pipeline(spec, images, labels, batch_size=32, training=True, seed=2, mix="mixup_cutmix", **kw)
        return [(x.numpy(), y.numpy()) for x, y in ds]

    whole = batches(epochs=2)
    assert len(whole) == 6 and whole[0][1].shape == (32, 10) and whole[0][1].dtype == np.float32
    np.testing.assert_allclose(whole[0][1].sum(-1), 1.0, rtol=1e-6)
    assert np.mean(whole[0][1].max(-1) < 1) > 0.5  # most examples carry two classes
    resumed = batches(first_epoch=1, epochs=2, skip_batches=1)
    for (x, y), (x2, y2) in zip(whole[4:], resumed):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    with pytest.raises(ValueError, match="mix must be"):
        make_pipeline(spec, images, labels, batch_size=32, training=True, mix="mosaic", epochs=1)
    with pytest.raises(ValueError, match="mix_alpha"):
        make_pipeline(spec, images, labels, batch_size=32, training=True, mix="cutmix", mix_alpha=0.0, epochs=1)


def test_soft_target_loss_and_accuracy_take_distributions_and_labels():
    from zoo.losses import SoftTargetCrossentropy
    from zoo.training.classification import target_accuracy

    logits = np.array([[3.0, 0.5, -1.0], [0.0, 1.0, 2.0]], dtype="float32")
    targets = np.array([[0.6, 0.4, 0.0], [0.0, 0.3, 0.7]], dtype="float32")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    smoothed = targets * 0.9 + 0.1 / 3
    expected = float(np.mean(-(smoothed * log_p).sum(-1)))
    assert float(SoftTargetCrossentropy(0.1)(targets, logits)) == pytest.approx(expected, rel=1e-5)
    labels = np.array([0, 2])
    assert float(SoftTargetCrossentropy(0.1)(labels, logits)) == pytest.approx(
        float(SmoothedSparseCrossentropy(0.1)(labels, logits)), rel=1e-6
    )
    np.testing.assert_array_equal(np.asarray(target_accuracy(targets, logits)), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(target_accuracy(np.array([1, 2]), logits)), [0.0, 1.0])


def test_mixing_is_refused_where_it_cannot_apply():
    from zoo.training.classification import training_loss

    with pytest.raises(ValueError, match="mix must be one of"):
        TrainConfig(mix="mosaic").validate()
    with pytest.raises(ValueError, match="mix_alpha"):
        TrainConfig(mix="mixup", mix_alpha=-1.0).validate()
    with pytest.raises(ValueError, match="takes neither label smoothing nor mixed labels"):
        training_loss(zoo.create("perceptron"), soft_targets=True)
    with pytest.raises(ValueError, match="mix='cutmix': settings of image classifiers; gcn is a node_classification"):
        train("gcn", "cora", config=TrainConfig(mix="cutmix"))


def test_cli_flags_reach_the_train_config():
    args = build_parser().parse_args(
        [
            "train",
            "resnet20",
            "--dataset",
            "cifar10",
            "--schedule",
            "one_cycle",
            "--warmup-epochs",
            "2",
            "--label-smoothing",
            "0.1",
            "--optimizer",
            "sgd",
            "--augment",
            "crop_flip_cutout",
            "--mix",
            "cutmix",
            "--mix-alpha",
            "0.5",
            "--jit-compile",
            "on",
            "--mixed-precision",
            "--epochs",
            "30",
        ]
    )
    config = command_config(TrainConfig, args)
    assert (
        config.schedule,
        config.warmup_epochs,
        config.label_smoothing,
        config.augment,
        config.mix,
        config.mix_alpha,
        config.jit_compile,
        config.mixed_precision,
    ) == ("one_cycle", 2.0, 0.1, "crop_flip_cutout", "cutmix", 0.5, "on", True)
    config.validate()
    for bad, match in [
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"warmup_epochs": 30.0}, "warmup_epochs"),
        ({"jit_compile": "yes"}, "jit_compile"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(epochs=30, **bad).validate()


def test_a_short_run_with_the_recipe_learns(tmp_path):
    """One-cycle Nesterov SGD, label smoothing, CutMix, XLA on: 2 epochs of LeNet-5 on 2,000 real MNIST images."""
    config = TrainConfig(
        epochs=2,
        batch_size=64,
        lr=0.05,
        optimizer="sgd",
        schedule="one_cycle",
        warmup_epochs=0.5,
        weight_decay=5e-4,
        label_smoothing=0.1,
        mix="cutmix",
        jit_compile="on",
        max_train_examples=2000,
        verbose=0,
    )
    result = train("lenet5", "mnist", config=config, out=tmp_path / "run")
    assert result.test["accuracy"] > 0.5, result.test  # chance is 0.1
    recorded = json.loads((result.run_dir / "config.json").read_text())["training"]
    assert recorded["schedule"] == "one_cycle" and recorded["label_smoothing"] == 0.1 and recorded["mix"] == "cutmix"
    assert max(result.history["val_accuracy"]) > 0.5  # validation keeps integer labels
    assert recorded["jit_compile"] == "on" and recorded["warmup_epochs"] == 0.5


def test_a_run_started_before_the_recipe_fields_existed_still_resumes(tmp_path):
    import dataclasses

    from zoo.training.engine import _check_resumable
    from zoo.weights import RUN_CONFIG

    config = TrainConfig(epochs=3)
    old = {
        k: v
        for k, v in dataclasses.asdict(config).items()
        if k not in ("warmup_epochs", "label_smoothing", "jit_compile")
    }
    record = {"model": "lenet5", "model_config": {}, "dataset": "mnist", "training": dataclasses.asdict(config)}
    (tmp_path / RUN_CONFIG).write_text(json.dumps({**record, "training": old}))
    _check_resumable(tmp_path, record)  # the defaults: the same settings
    changed = {**record, "training": dataclasses.asdict(dataclasses.replace(config, label_smoothing=0.1))}
    with pytest.raises(ValueError, match="label_smoothing"):
        _check_resumable(tmp_path, changed)
