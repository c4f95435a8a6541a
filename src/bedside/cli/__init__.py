"""The ``bedside`` command. Each command group lives in its own module and registers here."""

from __future__ import annotations

import sys

import typer

from bedside.cli import adapt as adapt_cmd
from bedside.cli import audit as audit_cmd
from bedside.cli import config as config_cmd
from bedside.cli import deid as deid_cmd
from bedside.cli import distill as distill_cmd
from bedside.cli import distill_loss as distill_loss_cmd
from bedside.cli import engine as engine_cmd
from bedside.cli import evaluate as evaluate_cmd
from bedside.cli import extract as extract_cmd
from bedside.cli import generate as generate_cmd
from bedside.cli import models as models_cmd
from bedside.cli import ner as ner_cmd
from bedside.cli import pretrain as pretrain_cmd
from bedside.cli.common import run_guarded

app = typer.Typer(
    name="bedside",
    help="Small clinical language models on your own hardware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(config_cmd.app, name="config")
app.add_typer(engine_cmd.app, name="engine")
app.add_typer(evaluate_cmd.app, name="eval")
app.add_typer(ner_cmd.train_app, name="train")
app.add_typer(adapt_cmd.app, name="adapt")
app.add_typer(distill_cmd.app, name="distill")
distill_cmd.app.command("token")(distill_loss_cmd.token)
distill_cmd.app.command("grounded")(distill_loss_cmd.grounded)
app.command("pretrain")(pretrain_cmd.pretrain)
evaluate_cmd.app.command("ner")(ner_cmd.eval_ner)
evaluate_cmd.app.command("deid")(deid_cmd.eval_deid)
app.command("generate")(generate_cmd.generate)
app.command("deid")(deid_cmd.deid)
app.command("deid-synth")(deid_cmd.synth_deid)
app.command("extract")(extract_cmd.extract)
app.command("tune")(adapt_cmd.tune)


def _print_version(value: bool) -> None:
    if value:
        from bedside import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    pass


def main() -> None:
    sys.exit(run_guarded(app))
