"""Command-line flags generated from a config dataclass, so flag names cannot drift from fields.

Each field ``some_name`` becomes ``--some-name``; its help is the field's docstring (the string
literal under it in the class body); bools become ``--flag/--no-flag``. A flag that is not given
leaves the field out of the parsed namespace, so the dataclass's (or a preset's) default stands.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["add_dataclass_arguments", "dataclass_values", "field_docs"]


def field_docs(cls: type) -> dict[str, str]:
    """``field name -> docstring`` from the string literals that follow the fields in ``cls``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _help(doc: str) -> str:
    """One paragraph of plain text: no reST markup, ``%`` escaped for argparse."""
    text = re.sub(r"``([^`]*)``", r"\1", " ".join(doc.split()))
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text)
    return text.replace("%", "%%")


def _parser_for(tp: Any) -> tuple[Callable[[str], Any], str] | None:
    """A converter and metavar for a field type; None for types a flag cannot carry."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    optional = type(None) in typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if set(args) == {str, int}:

            def str_or_int(value: str) -> str | int:
                return int(value) if value.lstrip("-").isdigit() else value

            return str_or_int, "STR|INT"
        if len(args) == 1 and args[0] in (int, float, str):
            convert = args[0]

            def or_none(value: str) -> Any:
                return None if optional and value.lower() == "none" else convert(value)

            return or_none, f"{convert.__name__.upper()}|none"
        return None
    if tp in (int, float, str):
        return tp, tp.__name__.upper()
    return None


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    *,
    skip: Iterable[str] = (),
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Add one flag per field of ``cls`` to ``parser`` (a parser or an argument group).

    ``skip`` names fields left out; ``aliases`` maps a field to older flag spellings that keep
    working but are not listed in ``--help``. Returns the field names given flags.
    """
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    aliases = aliases or {}
    added = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        doc = _help(docs.get(f.name, ""))
        flag = "--" + f.name.replace("_", "-")
        if tp is bool:
            kwargs: dict[str, Any] = {"action": argparse.BooleanOptionalAction}
            shown = f"{doc} (default: {'on' if default else 'off'})"
        else:
            converter = _parser_for(tp)
            if converter is None:
                continue
            kwargs = {"type": converter[0], "metavar": converter[1]}
            shown = f"{doc} (default: {default})"
        parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=shown, **kwargs)
        for alias in aliases.get(f.name, ()):
            parser.add_argument(alias, dest=f.name, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)  # fmt: skip
        added.append(f.name)
    return added


def dataclass_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` that were given on the command line, by name."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}
