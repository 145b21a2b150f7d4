"""The `fabsight` command: parse, call a task, print. Nothing else lives here.

Each command is a `Command` row in `COMMANDS` (the one table). Its `run`
takes the options dataclass and returns JSON-ready data; with `--json` that
data is printed as one JSON document on stdout, otherwise `show` prints it
for a person. User errors (`FabsightError`) become one line on stderr and
exit status 2; `--debug` shows the traceback instead. A reader that closes
the pipe early (`| head`) ends the command quietly, as it would a Unix tool.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fabsight import __version__, progress
from fabsight.cli import options as opts
from fabsight.errors import FabsightError

USER_ERROR = 2


@dataclass(frozen=True)
class Command:
    name: str  # "stats", or "evaluate captions" for a command inside a group
    summary: str
    options: type  # a dataclass declared with cli.options.option fields
    run: Callable[[Any], dict]  # options -> JSON-ready result
    show: Callable[[dict], None]  # prints the result for a person


def _commands() -> tuple[Command, ...]:
    from fabsight.cli import evaluate_cmds, generate_cmd, model_cmds, search_cmds, train_cmds, wafer_cmds

    return (*wafer_cmds.COMMANDS, generate_cmd.COMMAND, *model_cmds.COMMANDS, *search_cmds.COMMANDS,
            *train_cmds.COMMANDS,
            *evaluate_cmds.COMMANDS)


def _common_flags() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else")
    common.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return common


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fabsight", description="Wafer-map analysis for test and failure analysis.")
    parser.add_argument("--version", action="version", version=f"fabsight {__version__}")
    common = _common_flags()
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in commands:
        *group_names, leaf = command.name.split()
        where = top
        if group_names:
            group = group_names[0]
            if group not in groups:
                group_parser = top.add_parser(group, help=f"{group} commands")
                groups[group] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            where = groups[group]
        sub = where.add_parser(leaf, help=command.summary, description=command.summary, parents=[common])
        opts.add_arguments(sub, command.options)
        sub.set_defaults(_command=command)
    return parser


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"fabsight: warning: {message}", file=sys.stderr)


def _report_errors(result: dict) -> bool:
    """Print each per-file error of a batch on stderr; True if there were any."""
    for item in result.get("errors", []):
        print(f"fabsight: error: {item['source']}: {item['error']}", file=sys.stderr)
    return bool(result.get("errors"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_commands())
    args = parser.parse_args(argv)
    command: Command = args._command
    warnings.showwarning = _print_warning
    progress.enable(not args.json and sys.stderr.isatty())
    try:
        result = command.run(opts.from_namespace(command.options, args))
        if args.json:
            json.dump(result, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            command.show(result)
        return USER_ERROR if _report_errors(result) else 0
    except FabsightError as exc:
        if args.debug:
            raise
        print(f"fabsight: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("fabsight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (`fabsight ... | head`): not an error of ours
        return _quiet_after_broken_pipe()
    except Exception as exc:  # a bug of ours: say so in one line, traceback on request
        if args.debug:
            raise
        print(f"fabsight: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _quiet_after_broken_pipe() -> int:
    """Exit status a shell gives a tool killed by SIGPIPE; stdout pointed at /dev/null so that Python's own
    flush at exit does not fail on the closed pipe a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def entry_point() -> None:
    sys.exit(main())
