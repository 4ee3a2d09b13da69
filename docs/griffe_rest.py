"""Griffe extension for the docs build: show snnfunc's reST bits readably in Markdown.

snnfunc's docstrings are Google style with a few reST constructs. Before the Google parser
runs, this fences bare doctests (``>>>`` blocks) and ``.. math::`` blocks as code, and turns
reST roles (``:func:`x```) and ``double backticks`` into Markdown inline code, and shows reST
simple tables as text.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|mod|data|attr|meth|obj|exc|math|py:\w+):`~?([^`]+)`")


_DOUBLE = re.compile(r"(?<!`)``(?!`)(.+?)(?<!`)``(?!`)", re.S)
_BORDER = re.compile(r"^=+( +=+)+$")


def _fence(text: str) -> str:
    text = _DOUBLE.sub(r"`\1`", _ROLE.sub(r"`\1`", text))
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith(">>>"):  # doctest: until a blank line
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            out += [indent + "```pycon", *(indent + b for b in block), indent + "```"]
            continue
        if _BORDER.match(stripped):  # a reST simple table: top, header rule, bottom
            block, borders = [], 0
            while i < len(lines) and borders < 3:
                borders += bool(_BORDER.match(lines[i].strip()))
                block.append(lines[i][len(indent) :].replace("`", ""))
                i += 1
            out += ["", indent + "```text", *(indent + b for b in block), indent + "```", ""]
            continue
        if stripped.startswith(".. math::"):  # the formula, as text
            block = [stripped[len(".. math::") :].strip()]
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(indent + " ")):
                block.append(lines[i].strip())
                i += 1
            while block and not block[-1]:
                block.pop()
            out += [indent + "```text", *(indent + b for b in block if b), indent + "```", ""]
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):  # reST literal block
            out.append(line[:-1])
            i += 1
            body: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(indent + " ")):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            while body and not body[0].strip():
                body.pop(0)
            if body:
                cut = min(len(b) - len(b.lstrip()) for b in body if b.strip())
                out += [
                    "",
                    indent + "```text",
                    *(indent + b[cut:] for b in body),
                    indent + "```",
                    "",
                ]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RestToMarkdown(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _fence(obj.docstring.value)
