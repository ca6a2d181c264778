"""The demo report: ``report.html`` (self-contained: CSS inline, every picture a base64 ``data:`` URI) and
``report.md`` (the same content, pictures as relative links) from one results dict.

The results dict (what :func:`kdpose.demo.run_demo` builds, also saved as ``results.json``)::

    {"title": str, "command": str, "verdict": str, "metric": "AP" | "wholebody.AP", "wall_s": float,
     "reference_line": str,                      # optional: the multi-seed reference, right after the verdict
     "rows": [{"label", "model", "how", "ap", "pck", "params_m", "gflops", "torch_ms", "onnx_ms", "iterations",
               "train_s"}],                       # numbers may be None (not measured)
     "figures": [{"title", "path", "caption", "half"}],  # PNG paths relative to the output folder; two
                                                 # consecutive figures with "half": True share a row
     "files": [{"title", "path"}],                # other outputs worth a link (video, ONNX files)
     "phases": [{"name", "seconds"}], "commands": [str], "notes": [str],
     "columns": [[header, key, format]]}          # optional: the table's columns (default TABLE_COLUMNS)
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..utils.io import atomic_write

TABLE_COLUMNS = (  # (header, key, format)
    ("model", "label", "{}"), ("network", "model", "{}"), ("how it was made", "how", "{}"),
    ("AP", "ap", "{:.3f}"), ("PCK@0.2", "pck", "{:.3f}"), ("params (M)", "params_m", "{:.2f}"), ("GFLOPs", "gflops", "{:.3f}"),
    ("PyTorch ms", "torch_ms", "{:.2f}"), ("onnxruntime ms", "onnx_ms", "{:.2f}"),
    ("train iterations", "iterations", "{}"), ("train s", "train_s", "{:.0f}"),
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;
color:#1d232a;background:#fafbfc;line-height:1.45}
h1{font-size:1.7em;margin-bottom:4px}h2{margin-top:1.6em;border-bottom:2px solid #e3e7ec;padding-bottom:4px}
.verdict{font-size:1.1em;padding:10px 14px;border-radius:8px;background:#eef6ee;border:1px solid #b9dcb9}
.verdict.bad{background:#fbf0e6;border-color:#e8c39e}
.reference{padding:0 14px;color:#3a4550}
table{border-collapse:collapse;margin:10px 0;background:#fff}
th,td{border:1px solid #d9dee4;padding:5px 8px;text-align:right}td:nth-child(2),td:nth-child(n+4){white-space:nowrap}th{background:#f0f3f6}
td:first-child,th:first-child,td:nth-child(2),td:nth-child(3),th:nth-child(2),th:nth-child(3){text-align:left}
figure{margin:14px 0;background:#fff;border:1px solid #e3e7ec;border-radius:8px;padding:10px}
figure img{max-width:100%;height:auto;display:block}figcaption{color:#55606b;font-size:.92em;margin-top:6px}
pre{background:#1d232a;color:#e8edf2;padding:12px;border-radius:8px;overflow-x:auto;font-size:.9em}
.muted{color:#55606b}.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
"""


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    return "-" if value is None else fmt.format(value)


def table_columns(results: dict[str, Any]) -> list:
    """The table's (header, key, format) columns: ``results["columns"]`` when given (e.g. the depth demo's PCK
    precision / recall), else :data:`TABLE_COLUMNS`."""
    return [tuple(c) for c in results.get("columns") or TABLE_COLUMNS]


def markdown_table(rows: list[dict], columns=TABLE_COLUMNS) -> str:
    """The results table in Markdown (one row per model)."""
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r, k, f) for _, k, f in columns) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[dict], columns=TABLE_COLUMNS) -> str:
    """The results table for a terminal (aligned columns)."""
    cells = [[h for h, _, _ in columns]] + [[_cell(r, k, f) for _, k, f in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _data_uri(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read a report picture ({exc.strerror})") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(results: dict[str, Any], out_dir: Path) -> str:
    """The self-contained HTML page (pictures read from ``out_dir`` and inlined)."""
    e = html.escape
    good = results.get("kd_better")
    columns = table_columns(results)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(results['title'])}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(results['title'])}</h1>",
             f"<p class='muted'>{e(results.get('subtitle', ''))}</p>",
             f"<p class='verdict{'' if good else ' bad'}'>{e(results['verdict'])}</p>",
             *([f"<p class='reference'>{e(results['reference_line'])}</p>"] if results.get("reference_line") else []),
             "<h2>Results on the demo's validation set</h2><table><tr>"
             + "".join(f"<th>{e(h)}</th>" for h, _, _ in columns) + "</tr>"]
    for row in results["rows"]:
        parts.append("<tr>" + "".join(f"<td>{e(_cell(row, k, f))}</td>" for _, k, f in columns) + "</tr>")
    parts.append("</table>")
    parts += [f"<p class='muted'>{e(note)}</p>" for note in results.get("notes", [])]
    figures = results.get("figures", [])
    i = 0
    while i < len(figures):  # consecutive "half" figures share a row
        group = [figures[i]]
        while figures[i].get("half") and i + len(group) < len(figures) and figures[i + len(group)].get("half") \
                and len(group) < 2:
            group.append(figures[i + len(group)])
        cells = [f"<div><h2>{e(fig['title'])}</h2><figure><img alt='{e(fig['title'])}' "
                 f"src='{_data_uri(out_dir / fig['path'])}'><figcaption>{e(fig.get('caption', ''))}"
                 "</figcaption></figure></div>" for fig in group]
        parts.append(f"<div class='grid'>{''.join(cells)}</div>" if len(group) > 1 else cells[0])
        i += len(group)
    if results.get("files"):
        parts.append("<h2>Other outputs</h2><ul>" + "".join(
            f"<li>{e(f['title'])}: <code>{e(f['path'])}</code></li>" for f in results["files"]) + "</ul>")
    if results.get("phases"):
        parts.append("<h2>Where the time went</h2><table><tr><th>phase</th><th>seconds</th></tr>" + "".join(
            f"<tr><td>{e(p['name'])}</td><td>{p['seconds']:.0f}</td></tr>" for p in results["phases"])
            + f"<tr><th>total</th><th>{results.get('wall_s', 0.0):.0f}</th></tr></table>")
    parts.append("<h2>Reproduce</h2><pre>" + e("\n".join(results.get("commands", []))) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(results: dict[str, Any]) -> str:
    """The same report in Markdown (pictures linked relative to the output folder)."""
    lines = [f"# {results['title']}", "", results.get("subtitle", ""), "", f"**{results['verdict']}**", ""]
    if results.get("reference_line"):
        lines += [results["reference_line"], ""]
    lines += ["## Results on the demo's validation set", "", markdown_table(results["rows"], table_columns(results)),
              ""]
    lines += [f"{note}\n" for note in results.get("notes", [])]
    for fig in results.get("figures", []):
        lines += [f"## {fig['title']}", "", f"![{fig['title']}]({fig['path']})", "", fig.get("caption", ""), ""]
    if results.get("files"):
        lines += ["## Other outputs", ""] + [f"- {f['title']}: `{f['path']}`" for f in results["files"]] + [""]
    if results.get("phases"):
        lines += ["## Where the time went", "", "| phase | seconds |", "|---|---|"]
        lines += [f"| {p['name']} | {p['seconds']:.0f} |" for p in results["phases"]]
        lines += [f"| **total** | **{results.get('wall_s', 0.0):.0f}** |", ""]
    lines += ["## Reproduce", "", "```bash", *results.get("commands", []), "```", ""]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    page = render_html(results, out_dir)
    with atomic_write(html_path, "w") as f:
        f.write(page)
    with atomic_write(md_path, "w") as f:
        f.write(render_markdown(results))
    return html_path, md_path


__all__ = ["markdown_table", "table_columns", "render_html", "render_markdown", "text_table", "write_report"]
