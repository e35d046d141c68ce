"""``main``: run one subcommand, and end every failure as one ``error:`` line with exit code 2."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .._exceptions import TDAError, WaysOut, one_line
from ._commands import COMMANDS
from ._parser import build_parser
from ._text import WAYS_OUT, printable


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure ends as one ``error:`` line on stderr and exit code 2 (130 when interrupted);
    set ``TDA_DEBUG=1`` to see the traceback of an unexpected one."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser, so the hint names the command
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        with quiet_warnings():
            return COMMANDS[args.command](args)
    except WaysOut as exc:  # a budget refusal, an untrusted file: the ways out as flags  # also those an analysis raises once the baseline's errors are known
        return _fail(exc.worded(WAYS_OUT))
    except TDAError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        resume = "" if getattr(args, "no_cache", True) else "; finished retrains are cached, rerun to continue"
        sys.stderr.write(f"error: interrupted{resume}\n")
        return 130
    except MemoryError:
        if os.environ.get("TDA_DEBUG"):
            raise
        return _fail("out of memory: use fewer rows, candidate mode (--candidates N) or fewer parallel jobs")
    except Exception as exc:  # a bug or an unforeseen input: still one line, the traceback on request
        if os.environ.get("TDA_DEBUG"):
            raise
        if type(exc).__name__ == "TerminatedWorkerError":  # loky: a worker was killed (often by the kernel, out of memory)
            return _fail("a parallel worker process died (killed, or out of memory): use fewer parallel jobs (--n-jobs) or fewer rows")
        if isinstance(exc, OSError):  # the system's own words ("[Errno 28] No space left on device: ...")
            return _fail(str(exc))
        # A bug: its type is what a bug report needs.
        first = (str(exc).strip().splitlines() or [""])[0]
        said = f"{type(exc).__name__}: {one_line(first, 300)}" if first else type(exc).__name__
        return _fail(f"unexpected {said} (rerun with TDA_DEBUG=1 for the traceback)")


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """No Python warning reaches stderr (libraries speak in their own words; what the user must
    know is in the output's warnings): ignored here and in worker processes started meanwhile.
    ``TDA_DEBUG=1`` shows them."""
    if os.environ.get("TDA_DEBUG"):
        yield
        return
    before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "ignore"  # read by the workers loky and Dask start
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if before is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = before


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {printable(one_line(message))}\n")
    return 2
