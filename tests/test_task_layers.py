"""Every layer covers every task of ``zoo.tasks``: a trainer with ``train`` and ``evaluate``, serving signatures,
fine-tuning data exactly where the task says fine-tuning is supported, and the CLI's metric line from the task."""

from __future__ import annotations

import inspect

import pytest

from zoo import tasks
from zoo.cli.training import _metrics_line
from zoo.registry import describe, list_models
from zoo.serving import signatures
from zoo.tasks import TASKS, get_task
from zoo.training import dispatch

#: What each task's evaluation returns (the keys of the trainers' ``evaluate``), with the line printed for it.
EVALUATIONS = {
    "image_classification": (
        {"accuracy": 0.9912, "loss": 0.0301, "examples": 10000, "source": "mnist"},
        "accuracy 0.9912 (error 0.88%), loss 0.0301 on 10000 examples",
    ),
    "node_classification": (
        {"accuracy": 0.815, "loss": 0.6104, "examples": 1000},
        "accuracy 0.8150 (error 18.50%), loss 0.6104 on 1000 examples",
    ),
    "regression": (
        {
            "mse": 2900.5,
            "r2": 0.4512,
            "examples": 89,
            "least_squares": {"mse": 2890.1, "r2": 0.4603},
            "weight_gap": 0.012,
        },
        "MSE 2900.50, R² 0.4512 on 89 examples (least squares: MSE 2890.10, R² 0.4603; weight gap 0.012)",
    ),
    "language_model": (
        {"perplexity": 4.5, "bits_per_character": 2.17, "loss": 1.504, "characters": 5000},
        "perplexity 4.500 (2.170 bits/char) on 5000 characters",
    ),
    "autoencoding": (
        {"nll": 85.1, "negative_elbo": 88.2, "importance_samples": 1000, "examples": 10000, "unit": "nats"},
        "-log p(x) 85.10 nats (importance-weighted, k=1000), negative ELBO 88.20 nats on 10000 binarised test images",
    ),
    "image_generation": (
        {"fid": 12.3, "kid": 0.01, "fid_real_vs_real": 1.2, "samples": 5000, "features": "lenet5:mnist"},
        "FID 12.300 (real vs real 1.200), KID 0.01000 on 5000 samples, lenet5:mnist",
    ),
}
EVALUATIONS["diffusion"] = EVALUATIONS["image_generation"]


def test_every_task_has_a_trainer_and_an_evaluator():
    assert set(tasks.registered(dispatch.LAYER)) == set(TASKS)
    for name, task in TASKS.items():
        module = task.part(dispatch.LAYER).load()
        assert callable(module.train) and callable(module.evaluate), name


def test_every_task_has_serving_signatures():
    assert set(tasks.registered(signatures.LAYER)) == set(TASKS)
    for name, task in TASKS.items():
        assert next(iter(inspect.signature(task.part(signatures.LAYER)).parameters)) == "model", name


def test_fine_tuning_data_exactly_where_the_task_supports_fine_tuning():
    assert {name for name, task in TASKS.items() if task.finetune} == {"image_classification", "node_classification"}
    for name, task in TASKS.items():
        trainer = dispatch.trainer_of(name)
        assert (trainer.finetune_data is not None) == task.finetune, name
        if task.finetune:
            assert callable(trainer.finetune_loader())
        else:
            with pytest.raises(ValueError, match="no fine-tuning data"):
                trainer.finetune_loader()


def test_finetune_refuses_a_task_it_does_not_support():
    from zoo.training.finetune import finetune

    with pytest.raises(ValueError, match="regression model; fine-tuning handles image_classification, node_class"):
        finetune("linear_regression", "unused.weights.h5", "diabetes")


def test_every_registered_model_has_a_defined_task():
    assert {describe(name)["task"] for name in list_models()} == set(TASKS)


def test_unknown_task_suggests_the_closest():
    with pytest.raises(ValueError, match=r"Unknown task 'regresion'\. Did you mean: regression\?"):
        get_task("regresion")


def test_register_checks_the_task_and_refuses_a_second_part():
    with pytest.raises(ValueError, match="Unknown task 'telepathy'"):
        tasks.register(dispatch.LAYER, "telepathy", dispatch.Trainer("zoo.training.telepathy"))
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(dispatch.LAYER, "regression", dispatch.Trainer("zoo.training.classification"))
    assert tasks.register(dispatch.LAYER, "regression", dispatch.Trainer("zoo.training.regression"))
    assert dispatch.trainer_of("regression").module == "zoo.training.regression"
    with pytest.raises(ValueError, match="The inference layer has nothing for task 'regression'; it covers: none"):
        get_task("regression").part("inference")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_summary_line_of_each_task(name):
    metrics, line = EVALUATIONS[name]
    assert set(TASKS[name].metrics) <= set(metrics)
    assert TASKS[name].summarize(metrics) == line


def test_cli_metric_line_follows_the_models_task():
    assert _metrics_line("gcn", EVALUATIONS["node_classification"][0]).startswith("accuracy 0.8150")
    assert _metrics_line("linear_regression", EVALUATIONS["regression"][0]).startswith("MSE 2900.50")
    assert _metrics_line("ddpm_small", {"fid": None, "note": "no classifier"}) == "FID not measured: no classifier"


def _untrained(task: str):
    """A small untrained model of ``task``, its data set and the options of a quick evaluation."""
    import zoo

    if task == "regression":
        from zoo.data.tabular import load_tabular

        return zoo.create("linear_regression", **load_tabular("diabetes", "train").model_overrides()), "diabetes", {}
    if task == "language_model":
        from zoo.data.text import build_vocabulary, load_text

        vocabulary = build_vocabulary(load_text("shakespeare", "test").text)
        model = zoo.create("char_gru", vocabulary=vocabulary, units=8, embedding_dim=8)
        return model, "shakespeare", {"max_characters": 2000}
    if task == "autoencoding":
        return zoo.create("vae_2d"), "mnist", {"importance_samples": 2, "max_examples": 20}
    if task in ("image_generation", "diffusion"):
        model = (
            zoo.create("dcgan", latent_dim=8) if task == "image_generation" else zoo.create("ddpm_small", timesteps=4)
        )
        return model, "mnist", {"num_samples": 50, "steps": 2 if task == "diffusion" else None}
    name = {"image_classification": "lenet5", "node_classification": "gcn"}[task]
    return zoo.create(name), describe(name)["dataset"], {}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_real_evaluation_reports_the_tasks_metrics(task):
    model, dataset, options = _untrained(task)
    metrics = dispatch.trainer_of(task).load().evaluate_model(model, dataset, **options)
    assert set(TASKS[task].metrics) <= set(metrics)
    assert _metrics_line(model.name, metrics) == TASKS[task].summarize(metrics)
