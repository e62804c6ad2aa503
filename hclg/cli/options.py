"""What every command group shares: click options made from the option dataclasses (one
generator: the help text, default, type and choices come from the fields), logging, and
turning hclg's errors into a clean message and exit status."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import typing

import click

from hclg.errors import HclgError


def _value_type(cls, fld):
    """The Python type of a field (``float | None`` -> float)."""
    hint = typing.get_type_hints(cls)[fld.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def options_from(cls, skip: tuple[str, ...] = ()):
    """A decorator adding one click option per field of the dataclass ``cls``.

    ``--field-name`` for each field (``--x/--no-x`` for booleans), default and help from
    the field (``metadata["help"]``), ``show_default=True``; ``metadata["choices"]`` makes
    a choice, ``metadata["file"]`` an existing file. The command receives the fields as
    keyword arguments of the same names, ready for ``cls(**kwargs)``.
    """
    def deco(f):
        for fld in reversed(dataclasses.fields(cls)):
            if fld.name in skip or not fld.init:
                continue
            flag = "--" + fld.name.replace("_", "-")
            kw = {"default": fld.default, "show_default": True, "help": fld.metadata["help"]}
            vt = _value_type(cls, fld)
            if "choices" in fld.metadata:
                kw["type"] = click.Choice(fld.metadata["choices"])
            elif fld.metadata.get("file"):
                kw["type"] = click.Path(exists=True, dir_okay=False)
            elif vt is bool:
                flag = f"{flag}/--no-{fld.name.replace('_', '-')}"
            elif vt in (int, float):
                kw["type"] = vt
            f = click.option(flag, fld.name, **kw)(f)
        return f
    return deco


def setup_logging(verbose: int) -> None:
    """WARNING with no -v, INFO with -v, DEBUG with -vv; messages on stderr."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    # the root logger stays at WARNING: -v is hclg's steps, not numba's compiler passes
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr,
                        force=True)
    logging.getLogger("hclg").setLevel(level)


def verbose_option(steps_by_default: bool = False):
    """``-v`` (counted): more logging. Commands that log their steps by default (compile)
    take ``-v`` as debug; the others take ``-v`` as steps and ``-vv`` as debug."""
    return click.option("-v", "--verbose", count=True, default=0,
                        help="More logging (-v: debug)." if steps_by_default
                        else "More logging (-v: steps and summaries, -vv: debug).")


def call(func, *args, **kwargs):
    """Calls a library function; hclg's errors and bad option values become a clean
    message and exit status 1, not a traceback."""
    try:
        return func(*args, **kwargs)
    except BrokenPipeError:
        quiet_broken_pipe()
    except (HclgError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:  # a file that cannot be read or written: its name and the reason
        raise click.ClickException(f"{e.filename or ''}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        interrupted()
    except SystemError as e:  # Ctrl-C inside a compiled kernel comes back wrapped in this
        if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt):
            interrupted()
        raise


def interrupted():
    """Ctrl-C: one line instead of a traceback, and the shell's status for it (130)."""
    click.echo("interrupted: every utterance finished so far is in the outputs; --resume carries on", err=True)
    sys.exit(130)


def quiet_broken_pipe():
    """The reader of our stdout went away (``hclg lattice nbest ... | head``): stop at once
    and quietly, as the Unix tools do, with their status (128 + SIGPIPE). Python would print
    an error when it flushes stdout at exit, so stdout is pointed at /dev/null first."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(128 + 13)
