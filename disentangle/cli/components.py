"""`disentangle plugins` and `disentangle list KIND [PATTERN]`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from disentangle.cli import app
from disentangle.cli.options import Json
from disentangle.errors import DisentangleError
from disentangle.registry import KINDS, get_registry


@app.command()
def plugins(as_json: Json = False) -> None:
    """Every loaded plugin: its distribution, version and what it registers."""
    infos = get_registry().plugins()
    if as_json:
        typer.echo(json.dumps([info.__dict__ for info in infos], indent=2))
        return
    table = Table("plugin", "distribution", "version", "registers")
    for info in infos:
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in info.registers.items())
        table.add_row(info.name, info.distribution or "-", info.version or "-", registers or "-")
    Console().print(table)


@app.command("list")
def list_components(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    pattern: Annotated[str, typer.Argument(help="Wildcard pattern, e.g. 'gauss*'.")] = "*",
    as_json: Json = False,
) -> None:
    """Registered components of one kind, with one-line summaries."""
    entries = get_registry().list(kind, pattern)
    rows = [{"name": e.name, "plugin": e.plugin, "summary": e.component.summary,
             **{k: v for k, v in e.component.details.items()}} for e in entries]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows and pattern != "*":  # an empty table reads as "none registered": a typo?
        raise DisentangleError(f"no {kind} match '{pattern}'; `disentangle list {kind}` shows "
                               "them all")
    extra = sorted({k for row in rows for k in row} - {"name", "plugin", "summary"})
    table = Table("name", "summary", *extra, "plugin", title=f"{kind} matching '{pattern}'")
    for row in rows:
        table.add_row(row["name"], row["summary"], *(_cell(row.get(k)) for k in extra), row["plugin"])
    Console().print(table)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)
