"""Turn options dataclasses (declared with `fabsight.options.option`) into argparse flags."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

from fabsight.options import option  # noqa: F401  (re-exported for command modules)


def _base_type(hint: Any) -> tuple[type, bool]:
    """(element type, is_list) of a hint such as `int`, `str | None` or `list[str]`."""
    origin = typing.get_origin(hint)
    if origin is list:
        return typing.get_args(hint)[0], True
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(args[0])
    return hint, False


def add_arguments(parser: argparse.ArgumentParser, options_class: type) -> None:
    hints = typing.get_type_hints(options_class)
    for f in dataclasses.fields(options_class):
        meta = dict(f.metadata)
        if not meta:
            continue  # not a command-line option
        kind, is_list = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {"help": meta["help"]}
        if meta["choices"]:
            kwargs["choices"] = meta["choices"]
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        if meta["positional"]:
            kwargs["nargs"] = meta["nargs"] or ("+" if is_list else None)
            if kwargs["nargs"] is None:
                del kwargs["nargs"]
            kwargs["type"] = kind
            if f.default is not dataclasses.MISSING:  # an optional positional (nargs="?") keeps its default
                kwargs["default"] = f.default
            parser.add_argument(f.name, **kwargs)
            continue
        names = [f"--{f.name.replace('_', '-')}"] + ([meta["short"]] if meta["short"] else [])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs.update(type=kind, required=True, nargs=(meta["nargs"] or "+") if is_list else None)
            if is_list:
                kwargs["action"] = "extend"  # `--data a --data b` means both, not only b
            parser.add_argument(*names, dest=f.name, **kwargs)  # no default in the dataclass: a required flag
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if kind is bool:
            parser.add_argument(*names, dest=f.name, action="store_true", default=default, **kwargs)
            continue
        kwargs["type"] = kind
        kwargs["default"] = default
        if is_list:
            kwargs["nargs"] = meta["nargs"] or "+"
            if not default:  # repeated flags add up; a non-empty default is replaced by the flag, not extended
                kwargs["action"] = "extend"
        if default is not None and default != [] and "%(default)" not in kwargs["help"]:
            kwargs["help"] += " (default: %(default)s)"
        parser.add_argument(*names, dest=f.name, **kwargs)


def from_namespace(options_class: type, namespace: argparse.Namespace) -> Any:
    names = {f.name for f in dataclasses.fields(options_class) if f.init}
    return options_class(**{k: v for k, v in vars(namespace).items() if k in names})
