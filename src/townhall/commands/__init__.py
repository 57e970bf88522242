"""The command-line verbs, one module per verb or group: each exports its `Command`s, and `townhall.cli`
lists them, parses the arguments and runs the chosen one. Nothing here registers itself or imports the CLI.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from townhall.settings import Settings

Run = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def no_args(parser: argparse.ArgumentParser) -> None:
    """A verb that takes no arguments of its own."""


@dataclass(frozen=True)
class Command:
    """One verb: its name and help line, the arguments it adds to its parser, and what it runs."""

    name: str
    help: str
    run: Run
    args: Callable[[argparse.ArgumentParser], None] = no_args


def with_data_dir(args: argparse.Namespace, settings: Settings) -> Settings:
    """Settings with the command line's --data-dir, when given."""
    if getattr(args, "data_dir", None):
        return settings.model_copy(update={"data_dir": Path(args.data_dir)})
    return settings
