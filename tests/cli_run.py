"""Running the command line inside the test process (shared by the CLI tests)."""

from __future__ import annotations

from pathlib import Path

from tda_core import cli


def run(*args: str, cache: Path, capsys) -> tuple[int, str, str]:
    """The CLI in this process with its own cache folder: exit code, stdout, stderr."""
    try:
        code = cli.main([*args, "--cache-dir", str(cache)] if args and args[0] != "demos" else list(args))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
