"""The command line: ``python -m tda_core {demos,errors,attribute,apply,compare,report}``
(see shared/DESIGN.md).

:mod:`.parser` declares the flags, :mod:`.arguments` reads them into the engine's objects (a
:class:`~tda_core._request.Request`, a :class:`~tda_core._engine.RunConfig`, the data and the
recipe) and checks what only the command line knows (flag combinations, output paths),
:mod:`.commands` runs each subcommand, :mod:`.text` prints the text output and progress, and
:mod:`.main` turns every failure into one ``error:`` line with exit code 2. The engine validates
the numbers and speaks in the user's words; the JSON documents are :mod:`tda_core._output`'s.
"""

from ._main import main
from ._parser import build_parser

__all__ = ["build_parser", "main"]
