"""CHANGELOG.md and CONTRIBUTING.md live at the repository root and are included into the site:
docs/changelog.md and docs/contributing.md hold one line ``--8<-- "NAME.md"``, which this hook
replaces by the file, with its links into ``docs/`` made relative to the site, so that the same
files read well on both."""

from __future__ import annotations

import re
from pathlib import Path

INCLUDE = re.compile(r'^--8<-- "([A-Z]+\.md)"$', re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:  # mkdocs' hook
    root = Path(config.config_file_path).parent

    def included(match: re.Match) -> str:
        return (root / match.group(1)).read_text(encoding="utf-8").replace("](docs/", "](")

    return INCLUDE.sub(included, markdown)
