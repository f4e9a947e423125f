"""``vautoml predict``, ``evaluate`` and ``export``: using a finished run's model.

Each loads Keras only once it runs, through :mod:`vertical_automl.predictor`
or :mod:`vertical_automl.export`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from .options import REGISTRY_OPTION, registry_root
from .output import metrics_summary

if TYPE_CHECKING:  # pragma: no cover
    from ..registry.runs import Run

_MODEL_OPTION = click.option(
    "--model",
    "model",
    required=True,
    metavar="RUN|PATH",
    help="A run id from 'vautoml registry list', or a run folder.",
)


@click.command()
@_MODEL_OPTION
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Raw inputs: a table file (CSV/TSV/Parquet), a .txt file (one text per line) or folder of .txt files, "
    "an image or a folder of images.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the predictions to this CSV file instead of standard output.",
)
@REGISTRY_OPTION
def predict(model: str, data: Path, output: Path | None, root: Path | None) -> None:
    """Predict labels and class probabilities for raw inputs with a finished run's model."""
    import csv
    import io

    from ..predictor import load

    predictor = load(model, registry_root(root))
    if not data.exists():
        raise UsageError(f"--data path '{data}' does not exist", "check the path")
    inputs = predictor.encode(data)
    scores = predictor.scores(inputs)
    labels = predictor.labels(scores)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if predictor.task == "regression":
        writer.writerow(["input", "prediction"])
        writer.writerows([name, f"{value:.6g}"] for name, value in zip(inputs.names, labels))
    else:
        writer.writerow(["input", "label", *(f"probability_{name}" for name in predictor.class_names)])
        writer.writerows(
            [name, label, *(f"{p:.6f}" for p in row)] for name, label, row in zip(inputs.names, labels, scores)
        )
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
        return
    output.write_text(buffer.getvalue(), encoding="utf-8")
    click.echo(f"wrote {len(labels)} predictions to {output}", err=True)


@click.command()
@_MODEL_OPTION
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Labelled data in the training data's format and columns.",
)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Also write the metrics and report sections to this JSON file."
)
@REGISTRY_OPTION
def evaluate(model: str, data: Path, output: Path | None, root: Path | None) -> None:
    """Score a finished run on labelled data: the search's test metrics and the vertical's report sections."""
    from ..bundle.writer import write_json
    from ..predictor import evaluate as evaluate_run

    if not data.exists():
        raise UsageError(f"--data path '{data}' does not exist", "check the path")
    result = evaluate_run(model, data, registry_root(root))
    if output is not None:
        write_json(output, result)
    click.echo(f"run {result['run_id']} on {result['data']} ({result['examples']} examples): {metrics_summary(result)}")
    for name, section in result["sections"].items():
        click.echo(f"  section {name}: {section['title']}")


@click.command("export")
@click.argument("run", metavar="RUN|PATH")
@click.option(
    "--format",
    "fmt",
    required=True,
    metavar="onnx|weights|docker",
    help="onnx: model.onnx for onnxruntime (needs pip install 'vertical-automl[onnx]'); "
    "weights: model.weights.h5 for Keras's load_weights; docker: a build context serving the run.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write here instead of into the run folder (a weights file must end in .weights.h5); "
    "the run's manifest is then left as it is.  docker: the build context's folder (default ./RUN-docker).",
)
@click.option(
    "--runtime",
    metavar="keras|onnx|onnx-int8",
    default=None,
    help="docker only: what the image serves with (default keras; onnx and onnx-int8 need the run's model.onnx "
    "or model.int8.onnx).",
)
@click.option(
    "--wheel",
    "wheels",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="docker only: a wheel of vertical-automl or of the run's plugin to install instead of one built "
    "from its local source (repeatable).",
)
@click.option(
    "--quantize",
    metavar="int8",
    help="With --format onnx: also write model.int8.onnx (static for convolutional graphs, dynamic otherwise), "
    "kept only if the test metric on --data drops at most --tolerance.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="With --quantize: labelled data in the training data's format (as for vautoml evaluate), "
    "to calibrate on and to measure the metric, size and latency before and after.",
)
@click.option(
    "--tolerance",
    type=float,
    help="With --quantize: the largest metric drop accepted (default 0.01: one point of accuracy or ROC-AUC; "
    "relative for errors such as MAE).",
)
@REGISTRY_OPTION
def export_command(
    run: str,
    fmt: str,
    output: Path | None,
    runtime: str | None,
    wheels: tuple[Path, ...],
    quantize: str | None,
    data: Path | None,
    tolerance: float | None,
    root: Path | None,
) -> None:
    """Export a run's model as ONNX (optionally int8-quantized) or Keras weights, each checked before it is kept,
    or a Docker build context serving it."""
    from ..export import export_model
    from ..registry.runs import find_run

    if fmt == "docker":
        if quantize is not None or data is not None or tolerance is not None:
            raise UsageError("--quantize, --data and --tolerance apply to --format onnx only", "leave them out")
        _export_docker(find_run(registry_root(root), run), output, runtime, wheels)
        return
    if runtime is not None or wheels:
        raise UsageError("--runtime and --wheel apply to --format docker only", "leave them out for onnx and weights")
    if quantize is not None or data is not None or tolerance is not None:
        from ..quantize import check_options, quantize_run, summary

        labelled, accepted = check_options(fmt, quantize, data, tolerance, output)
        click.echo(summary(quantize_run(find_run(registry_root(root), run).path, labelled, accepted)))
        return
    # Checked by export_model, not click.Choice, so a bad format is one line like every other vautoml error.
    result = export_model(find_run(registry_root(root), run).path, fmt, output)
    click.echo(
        f"wrote {result.path} (max difference from Keras {result.max_difference:.2g} on {result.inputs_checked} inputs)"
    )


def _export_docker(run: Run, output: Path | None, runtime: str | None, wheels: tuple[Path, ...]) -> None:
    """``--format docker``: the build context of :mod:`vertical_automl.serving.container`, and how to build it."""
    from ..serving.container import export_docker
    from ..serving.runtime import RuntimeKind

    kinds = [kind.value for kind in RuntimeKind]
    if runtime is not None and runtime not in kinds:
        raise UsageError(f"unknown --runtime '{runtime}'", f"use one of: {', '.join(kinds)}")
    context = export_docker(run, output, RuntimeKind(runtime or RuntimeKind.KERAS), wheels)
    if context.missing:
        click.echo(
            f"left out, listed in the manifest but not in the run folder: {', '.join(context.missing)}", err=True
        )
    click.echo(f"wrote the Docker build context {context.path} (image {context.image}); build it with:")
    click.echo(f"  docker build -t {context.image} {context.path}")
