"""Docstrings cite documents by names that mean something in the repository (docs/*.md, upstream file paths,
papers), never by a path of the machine the code was written on."""
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "kdpose"
MACHINE_PATH = re.compile(r"(?<![\w.])/(work|home|Users|root|tmp/kd_dev)/[\w.-]+|shared/specs")


def test_no_source_file_cites_a_development_machine_path():
    hits = [f"{p.relative_to(SRC)}:{n}: {line.strip()}"
            for p in sorted(SRC.rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if MACHINE_PATH.search(line)]
    assert not hits, "\n".join(hits)


def test_cited_repository_documents_exist():
    files = ["losses/rle.py", "codecs/heatmap.py", "models/sdpose.py", "models/layers/pose_machine_blocks.py"]
    docs = {m for f in files for m in re.findall(r"\bdocs/[\w-]+\.md", (SRC / f).read_text())}
    assert docs == {"docs/sdpose.md", "docs/distilpose.md", "docs/pose_machines.md"}
    missing = [d for d in sorted(docs) if not (SRC.parents[1] / d).is_file()]
    assert not missing, missing
