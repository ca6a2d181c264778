"""The report writer: self-contained HTML and Markdown from fabricated results (no training)."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from kdpose.demo.report import markdown_table, text_table, write_report
from kdpose.errors import DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(path: Path, value: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 12, 3), value, np.uint8))


def _results() -> dict:
    rows = [
        {"label": "teacher", "model": "rtmpose-s", "how": "shipped", "ap": 0.612, "params_m": 5.32,
         "gflops": 0.185, "torch_ms": 9.5, "onnx_ms": 3.25, "iterations": None, "train_s": None},
        {"label": "student", "model": "rtmpose-t", "how": "plain", "ap": 0.301, "params_m": 3.18,
         "gflops": 0.104, "torch_ms": 6.0, "onnx_ms": 1.5, "iterations": 200, "train_s": 240.0},
        {"label": "student + KD", "model": "rtmpose-t", "how": "DWPose 1+2", "ap": 0.352, "params_m": 3.18,
         "gflops": 0.104, "torch_ms": 6.1, "onnx_ms": 1.4, "iterations": 200, "train_s": 300.0},
    ]
    return {"title": "demo <test>", "subtitle": "fabricated", "verdict": "The distilled student beats it.",
            "kd_better": True, "metric": "AP", "wall_s": 612.0, "rows": rows,
            "figures": [{"title": "Curves", "path": "images/a.png", "caption": "c1"},
                        {"title": "Samples", "path": "images/b.png", "caption": "c2 & more"}],
            "files": [{"title": "video", "path": "images/v.mp4"}],
            "phases": [{"name": "data", "seconds": 12.0}, {"name": "train", "seconds": 500.0}],
            "commands": ["kdpose demo --out /tmp/x --minutes 10"], "notes": ["GT boxes."]}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.srcs, self.links, self.rows, self.errors = [], [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.srcs.append(attrs.get("src", ""))
            return
        if tag in ("meta", "br"):
            return
        if tag == "link" or (tag == "script" and "src" in attrs):
            self.links.append(attrs)
        if tag == "tr":
            self.rows += 1
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()


def test_html_is_self_contained_and_well_formed(tmp_path):
    _png(tmp_path / "images/a.png", 10)
    _png(tmp_path / "images/b.png", 200)
    html_path, md_path = write_report(_results(), tmp_path)
    page = html_path.read_text()
    parser = _Collector()
    parser.feed(page)
    assert parser.errors == [] and parser.stack == []
    assert parser.links == []  # no external stylesheet / script
    assert len(parser.srcs) == 2
    for src, value in zip(parser.srcs, (10, 200)):
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert data.startswith(PNG_MAGIC)
        assert data == (tmp_path / ("images/a.png" if value == 10 else "images/b.png")).read_bytes()
    # results table: header + 3 models; phase table: header + 2 phases + total
    assert parser.rows == 4 + 4
    assert "demo &lt;test&gt;" in page and "c2 &amp; more" in page  # text is escaped
    assert "0.352" in page and "612" in page and "kdpose demo --out /tmp/x --minutes 10" in page


def test_markdown_links_pictures_and_has_the_table(tmp_path):
    _png(tmp_path / "images/a.png", 10)
    _png(tmp_path / "images/b.png", 200)
    _, md_path = write_report(_results(), tmp_path)
    text = md_path.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["images/a.png", "images/b.png"]
    assert all((tmp_path / link).is_file() for link in links)
    table = [line for line in text.splitlines() if line.startswith("| ") and "rtmpose" in line]
    assert len(table) == 3
    assert table[2].split(" | ")[3] == "0.352"  # AP column
    assert "| - |" in table[0]  # teacher: no training iterations -> "-"
    assert "```bash\nkdpose demo --out /tmp/x --minutes 10\n```" in text


def test_tables_align_and_mark_missing_values():
    rows = _results()["rows"]
    md = markdown_table(rows).splitlines()
    assert len(md) == 2 + len(rows) and all(line.count("|") == md[0].count("|") for line in md)
    text = text_table(rows).splitlines()
    assert len({len(line) for line in text}) == 1  # every column padded to one width
    assert "0.612" in text[2] and text[2].split()[:2] == ["teacher", "rtmpose-s"]
    assert text[1].startswith("---")


def test_missing_picture_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="a.png"):
        write_report(_results(), tmp_path)


def test_reference_line_follows_the_verdict(tmp_path):
    """The multi-seed reference (kdpose.demo.reference) sits right after this run's verdict in both reports; a
    results dict without one (the depth demo's) renders as before."""
    _png(tmp_path / "images/a.png", 10)
    _png(tmp_path / "images/b.png", 200)
    line = "Over seeds 0 1 2 of this setting (BENCHMARKS.md, 2030-01-02): plain AP 0.200 +- 0.100 & more."
    html_path, md_path = write_report({**_results(), "reference": {"seeds": [0, 1, 2]}, "reference_line": line},
                                      tmp_path)
    assert "**The distilled student beats it.**\n\n" + line + "\n\n## Results" in md_path.read_text()
    page = html_path.read_text()
    assert page.index("The distilled student beats it.") < page.index("plain AP 0.200 +- 0.100 &amp; more.") \
        < page.index("<h2>Results")
    _, md_path = write_report(_results(), tmp_path)
    assert "beats it.**\n\n## Results" in md_path.read_text()
