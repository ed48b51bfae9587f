"""The one report writer: an HTML page in one style, written atomically.

Every report of medkeras and of its applications is a :class:`Page`: the answer first (one
paragraph), then sections of text, tables and figures, then the configuration.  Figures are
referenced relative to the page, so a report folder can be moved or zipped as a whole.

>>> import pandas as pd
>>> page = Page("Demo", answer="FT wins.")
>>> page.add_table("Numbers", pd.DataFrame({"model": ["a<b"], "auc": [0.91234]}))
>>> "<td>a&lt;b</td><td>0.912</td>" in page.html()
True
"""

from __future__ import annotations

import dataclasses
import html
import json
import os

from medkeras.atomic import write_text_atomic

__all__ = ["Page", "html_table"]

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
         "line-height:1.45;color:#222}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.8em;"
         "border-bottom:1px solid #ddd}.answer{background:#f3f7fb;border-left:4px solid #2b6cb0;"
         "padding:.8em 1em}.note{color:#555;font-size:92%}table{border-collapse:collapse;"
         "font-size:90%;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 7px;"
         "text-align:left}th{background:#f5f5f5}img{max-width:100%}"
         "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:85%}")


def _cell(value, digits):
    if isinstance(value, float):
        return "–" if value != value else f"{value:.{digits}f}"
    return str(value)


def html_table(table, *, digits=3):
    """A pandas table as an HTML table (floats with ``digits`` decimals, NaN as –)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v, digits))}</td>" for v in row)
                   + "</tr>" for row in table.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


@dataclasses.dataclass
class Page:
    """A report page: ``title``, the ``answer`` paragraph (HTML allowed), sections."""
    title: str
    answer: str = ""
    parts: list = dataclasses.field(default_factory=list)

    def add_text(self, heading, text, *, note=False):
        """A section of plain text (escaped) or, when it starts with ``<``, HTML."""
        body = text if text.lstrip().startswith("<") else f"<p>{html.escape(text)}</p>"
        if note:
            body = f'<div class="note">{body}</div>'
        self.parts.append(self._heading(heading) + body)

    def add_table(self, heading, table, *, note="", digits=3):
        """A table with readable column names (the caller's); ``note`` below it."""
        text = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.parts.append(self._heading(heading) + html_table(table, digits=digits) + text)

    def add_figure(self, heading, path, *, relative_to, note=""):
        """A figure file, linked relative to the page's folder ``relative_to``."""
        source = html.escape(os.path.relpath(os.fspath(path), os.fspath(relative_to)))
        text = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.parts.append(f"{self._heading(heading)}<p><img src='{source}' "
                          f"alt='{html.escape(heading or '')}'></p>{text}")

    def add_configuration(self, configuration):
        self.parts.append(self._heading("Configuration") +
                          f"<pre>{html.escape(json.dumps(configuration, indent=2))}</pre>")

    @staticmethod
    def _heading(heading):
        return f"<h2>{html.escape(heading)}</h2>" if heading else ""

    def html(self):
        answer = f'<div class="answer"><p>{self.answer}</p></div>' if self.answer else ""
        return "\n".join([
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>medkeras: {html.escape(self.title)}</title><style>{STYLE}</style>",
            f"</head><body><h1>{html.escape(self.title)}</h1>", answer, *self.parts,
            "</body></html>"])

    def write(self, path):
        """Write the page atomically; returns ``path``."""
        write_text_atomic(path, self.html())
        return path
