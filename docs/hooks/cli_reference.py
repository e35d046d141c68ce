"""The command-line reference, generated from the parser itself (``tda_core.cli.build_parser``).

A mkdocs hook (mkdocs.yml, ``hooks:``): the marker ``<!-- cli-reference -->`` in a page is replaced
by one section per command, with its usage and a table of every option (group, default, choices,
help), so the reference lists exactly what ``python -m tda_core <command> --help`` accepts.
tests/test_docs.py checks that against the parser too.
"""

from __future__ import annotations

import argparse

MARKER = "<!-- cli-reference -->"


def _cell(text: object) -> str:
    """Help text as a table cell: no HTML tags (``<class>``), no emphasis (``*``), no column breaks."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("*", "\\*").replace("|", "\\|").replace("\n", " ")


def _default(action: argparse.Action) -> str:
    if action.default is None or action.default is False or action.default == argparse.SUPPRESS or action.required:
        return ""
    if isinstance(action.default, list):
        return "`" + ",".join(str(v) for v in action.default) + "`"
    return f"`{action.default}`"


def _flags(action: argparse.Action) -> str:
    flags = ", ".join(f"`{o}`" for o in action.option_strings)
    if action.nargs != 0:
        flags += f" `{action.metavar or action.dest.upper()}`"
    return flags + (" (required)" if action.required else "")


def commands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, by name, in the order of ``--help``."""
    if parser is None:
        from tda_core.cli import build_parser

        parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference in Markdown: a section (###) per command, a table per argument group."""
    if parser is None:
        from tda_core.cli import build_parser

        parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    out: list[str] = []
    for name, command in commands(parser).items():
        out += [f"### `{name}`", "", helps.get(name) or "", "", "```text", command.format_usage().strip(), "```", ""]
        for group in command._action_groups:
            actions = [a for a in group._group_actions if a.option_strings and a.help != argparse.SUPPRESS
                       and not isinstance(a, argparse._HelpAction)]
            if not actions:
                continue
            title = "options" if group.title in ("options", "optional arguments") else group.title
            out += [f"**{title}**", "", "| option | default | choices | what it does |", "|---|---|---|---|"]
            for a in actions:
                choices = ", ".join(f"`{c}`" for c in a.choices) if a.choices else ""
                out.append(f"| {_flags(a)} | {_default(a)} | {choices} | {_cell(a.help or '')} |")
            out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:  # mkdocs' hook
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
