"""A griffe extension for the API reference: the docstrings' reStructuredText roles
(``:class:`~tda_core.Dataset```, ``:func:`reliability```) read as code in Markdown (`Dataset`,
`reliability`) instead of showing the role. mkdocs.yml names it under mkdocstrings' ``extensions``."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`~?([^`]+)`")


def plain(text: str) -> str:
    """``:role:`~a.b.C``` becomes ```C``` (the tilde: the last name only), ``:role:`a.b```: ```a.b```."""
    return ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1] if m.group(0).count('~') else m.group(1)}`", text)


class RstRoles(Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
