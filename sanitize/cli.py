"""The `soft-sanitize` command: a thin click layer over the library.

`soft-sanitize IN OUT --ratio 0.3` runs the default subcommand `sanitize`. Subcommands live in
`sanitize/commands/` and are imported only when used, so `--help` stays fast (no torch import).
Library errors become one clean line on stderr and an exit code (1 runtime, 2 bad input/usage);
`--debug` shows the traceback instead.
"""
from __future__ import annotations

import importlib
import os
import sys

import click

from . import __version__
from .errors import SanitizeError

DEFAULT_COMMAND = "sanitize"
COMMANDS = {
    "sanitize": "sanitize.commands.sanitize_cmd:command",
    "score": "sanitize.commands.score_cmd:command",
    "audit": "sanitize.commands.audit_cmd:command",
    "doctor": "sanitize.commands.doctor_cmd:command",
    "merge": "sanitize.commands.merge_cmd:command",
}


class DefaultLazyGroup(click.Group):
    """Lazily imported subcommands, with `sanitize` run when no subcommand is named."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def parse_args(self, ctx, args):
        own = {"--help", "-h", "--version", "--debug"}
        first = next((a for a in args if a not in ("--debug",)), None)
        if first is not None and first not in COMMANDS and first not in own:
            idx = args.index(first)
            args = args[:idx] + [DEFAULT_COMMAND] + args[idx:]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultLazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="soft-sanitize")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Protect a fine-tuning dataset against membership inference (SOFT) and audit it.

    \b
    Examples:
      soft-sanitize train.jsonl protected.jsonl --ratio 0.3
      soft-sanitize score train.jsonl scores.jsonl --ratio 0.3
      soft-sanitize audit --original train.jsonl --protected protected.jsonl \\
          --nonmembers holdout.jsonl --out-dir audit/
      soft-sanitize doctor
    """
    if debug:
        os.environ["SOFT_SANITIZE_DEBUG"] = "1"


# The CLI's own process never reaches a hub, and transformers' load reports and progress bars
# would clutter its output. Set here, not on import of the library (a notebook keeps its own).
QUIET_OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                             "TOKENIZERS_PARALLELISM": "false",
                             "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


def quiet_offline_environment() -> None:
    for key, value in QUIET_OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> None:
    quiet_offline_environment()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("SOFT_SANITIZE_DEBUG"))
    try:
        # In non-standalone mode click returns ctx.exit()'s code instead of exiting.
        rc = cli.main(args=argv, prog_name="soft-sanitize", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SanitizeError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted; finished work is cached, rerun the same command to resume.",
                   err=True)
        sys.exit(130)
    except OSError as exc:  # disk full, permissions, a vanished file: the environment's doing
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or type(exc).__name__}{where}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug: one line, not a traceback, and no message text, which
        if debug:             # could quote a record
            raise
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = (f" at {frame.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.tb_lineno}"
                 if frame is not None else "")
        click.echo(f"error: internal error ({type(exc).__name__}{where}); rerun with --debug "
                   "for the traceback (it may print record text)", err=True)
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
