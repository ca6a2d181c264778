"""The commands the docs show must work when a newcomer copies them: every ``kdpose ...`` / ``python -m kdpose ...``
line, every ``python benchmarks/....py`` / ``python -m kdpose.<module>`` line and every ``bash scripts/...`` line in
README.md, BENCHMARKS.md and docs/**/*.md (fenced and indented code blocks and inline code spans) is checked
without running anything heavy:

* the sub-command exists and every ``--option`` is one its argparse parser accepts (the real parser: the CLI's
  ``build_parser()``; a script's or module's own, caught at its ``parse_args`` call in a child process before it
  does any work), with values inside the option's ``choices`` and of its ``int`` / ``float`` type;
* ``configs/*.yaml`` paths exist;
* model names and pretrained tags (``--model``, ``--teacher``, ``kdpose export NAME``, ...) and detector names
  (``--det``) resolve through the registries (a tag may drop its ``_WxH`` suffix, as ``load_model`` allows);
* shell scripts exist and mention each option they are given.

Run this file alone with ``python -m pytest tests/test_docs_commands.py``; ``python tests/test_docs_commands.py
--list`` prints the commands it found."""
from __future__ import annotations

import argparse
import difflib
import glob
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").rglob("*.md"))]

# Docs write what the reader fills in as FILE, N, TAG, ANN.json, RUN_DIR, <lr> or "...". No real model name, tag,
# config file name or option choice has a capital letter, so a value with one (or with <, > or ...) is not checked.
PLACEHOLDER = re.compile(r"[A-Z<>]|\.\.\.|…")
# Options whose value names a pose model (zoo name or pretrained tag) in the CLI and in the benchmark scripts.
MODEL_OPTIONS = {"--model", "--models", "--teacher", "--pose"}
DETECTOR_OPTIONS = {"--det", "--detector"}
# Positional arguments that are model names: (kind, target) -> how many leading positionals (None = all).
MODEL_POSITIONALS = {("kdpose", "export"): 1, ("kdpose", "bench"): None, ("module", "kdpose.tasks.accuracy"): 1,
                     ("script", "benchmarks/teacher_report.py"): 1}
FILE_SUFFIXES = (".onnx", ".safetensors", ".pth", ".pt", ".json", ".yaml", ".yml", ".png", ".jpg", ".mp4")
SEPARATORS = {"&&", "||", ";", "|", "&"}
# Words that run the command after them (with their own options): nice -n 19 CMD, /work/shared/tools/heavy CMD, ...
WRAPPERS = {"nice", "env", "time", "timeout", "heavy"}


@dataclass(frozen=True)
class Command:
    file: str          # repository-relative doc path
    line: int          # 1-based line where the command starts
    text: str          # the command as the doc shows it (continuations joined)
    kind: str          # "kdpose" (the CLI), "module" (python -m kdpose.X), "script" (benchmarks/*.py), "shell",
                       # or "broken" (a command line the shell cannot split)
    target: str        # "" for the CLI, the module name, or the repository-relative script path
    args: tuple[str, ...]

    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


# ---------------------------------------------------------------------------------------------------- extraction


def code_and_spans(markdown: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(code lines, inline code spans) of a Markdown text as (1-based line, text): code lines from fenced blocks and
    indented blocks, with backslash continuations joined; spans from the prose only, newlines inside them made
    spaces (a span may wrap across lines of a paragraph)."""
    lines = markdown.splitlines()
    code: list[tuple[int, str]] = []
    prose = []                      # prose lines, code blanked so that span line numbers stay right
    fence = None
    pending: tuple[int, str] | None = None   # a code line that ended in a backslash
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        is_code = False
        if fence:
            if stripped.startswith(fence):
                fence = None
            else:
                is_code = True
        elif re.match(r"(`{3,}|~{3,})", stripped):
            fence = re.match(r"(`{3,}|~{3,})", stripped).group(1)
        elif line.startswith("    ") and stripped and (number == 1 or not lines[number - 2].strip() or
                                                        (code and code[-1][0] == number - 1) or pending):
            is_code = True          # an indented code block: 4 spaces after a blank line (or after its own lines)
        prose.append("" if fence or is_code or line.strip().startswith(("```", "~~~")) else line)
        if not is_code:
            pending = None
            continue
        if pending:
            start, text = pending
            text = text + " " + stripped
        else:
            start, text = number, stripped
        if text.endswith("\\"):
            pending = (start, text[:-1].rstrip())
        else:
            pending = None
            code.append((start, text))
    spans = []
    text = "\n".join(prose)
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", text, re.S):
        if "\n\n" not in match.group(2):   # a span never crosses a paragraph break
            spans.append((text.count("\n", 0, match.start()) + 1, " ".join(match.group(2).split())))
    return code, spans


def split_command(text: str) -> list[list[str]]:
    """Shell words of ``text`` (comments dropped), cut at ``&&``, ``;``, ``|`` and ``&``. A ``<placeholder with
    spaces>`` stays one word."""
    text = re.sub(r"<[^<>]*>", lambda m: m.group(0).replace(" ", "_"), text)
    words = shlex.split(text, comments=True)
    segments: list[list[str]] = [[]]
    for word in words:
        if word in SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(word)
    return [s for s in segments if s]


def classify(words: list[str]) -> tuple[str, str, list[str]] | None:
    """(kind, target, arguments) of one simple command, or None when it runs none of the documented programs."""
    i = 1 if words[0] == "..." else 0              # "... benchmarks/x.py --opt": the tail of a longer command
    while i < len(words) and (re.match(r"[A-Za-z_]\w*=", words[i]) or Path(words[i]).name in WRAPPERS
                              or (i and Path(words[i - 1]).name in WRAPPERS and re.match(r"-|\d", words[i]))
                              or (i and words[i - 1] == "-n" and words[i].isdigit())):
        i += 1
    if i == len(words):
        return None
    program, rest = Path(words[i]).name, words[i + 1:]
    if program == "torchrun":                       # torchrun [its options] -m kdpose ...
        if "-m" not in rest:
            return None
        program, rest = "python", rest[rest.index("-m"):]
    if words[i] == "kdpose" or words[i].endswith("/bin/kdpose"):    # not ~/.cache/kdpose
        return "kdpose", "", rest
    if re.fullmatch(r"python[\d.]*", program) and rest:
        if rest[0] == "-m" and len(rest) > 1:
            if rest[1] == "kdpose":
                return "kdpose", "", rest[2:]
            if rest[1].startswith("kdpose."):
                return "module", rest[1], rest[2:]
            return None                              # python -m venv / pip / pytest: not kdpose's
        if rest[0].startswith(("benchmarks/", "scripts/", "./benchmarks/", "./scripts/")):
            return "script", rest[0].removeprefix("./"), rest[1:]
        return None
    if program in ("bash", "sh") and rest and rest[0].removeprefix("./").startswith("scripts/"):
        return "shell", rest[0].removeprefix("./"), rest[1:]
    if words[i].removeprefix("./").startswith("scripts/"):
        return "shell", words[i].removeprefix("./"), rest
    # a script named with its arguments (a bare benchmarks/x.py is a file named in prose, maybe a helper module)
    if words[i].startswith("benchmarks/") and words[i].endswith(".py") and rest:
        return "script", words[i], rest
    return None


def commands_of(file: str, markdown: str) -> list[Command]:
    code, spans = code_and_spans(markdown)
    found = []
    for line, text in code + spans:
        text = re.sub(r"^\$\s+", "", text)           # a "$ " prompt
        try:
            segments = split_command(text)
        except ValueError:                           # unbalanced quotes: an error if it is a command, else prose
            kind = classify(text.split())
            if kind:
                found.append(Command(file, line, text, "broken", kind[1], ()))
            continue
        for words in segments:
            kind = classify(words)
            if kind:
                found.append(Command(file, line, text, kind[0], kind[1], tuple(kind[2])))
    return found


@lru_cache(maxsize=None)
def all_commands() -> tuple[Command, ...]:
    found: list[Command] = []
    for path in DOCS:
        found += commands_of(str(path.relative_to(REPO)), path.read_text(encoding="utf-8"))
    return tuple(sorted(set(found), key=lambda c: (c.file, c.line, c.text)))


# ---------------------------------------------------------------------------------------------- parser descriptions


def describe(parser: argparse.ArgumentParser) -> dict:
    """What the checks need of a parser, as JSON-able data (so a child process can send it)."""
    options, positionals, subcommands = {}, [], None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subcommands = {name: describe(sub) for name, sub in action.choices.items()}
            continue
        nargs = 1 if action.nargs is None else action.nargs
        spec = {"nargs": nargs, "choices": [str(c) for c in action.choices] if action.choices else None,
                "type": action.type.__name__ if action.type in (int, float) else None}
        if action.option_strings:
            options.update(dict.fromkeys(action.option_strings, spec))
        else:
            positionals.append(spec)
    return {"prog": parser.prog, "options": options, "positionals": positionals, "subcommands": subcommands}


class _ParserFound(BaseException):      # BaseException: no "except Exception" in a script swallows it
    def __init__(self, parser):
        self.parser = parser


def _describe_targets(targets: list[str]) -> dict:
    """Child-process side: run each script (``benchmarks/x.py``) or module (``-m kdpose.x``) as ``__main__`` until
    it parses its arguments, and describe that parser. Stopping at the parse call means nothing after it runs."""
    import runpy

    def stop(self, *args, **kwargs):
        raise _ParserFound(self)

    argparse.ArgumentParser.parse_args = stop
    argparse.ArgumentParser.parse_known_args = stop
    result = {}
    for target in targets:
        before, path_before = set(sys.modules), list(sys.path)
        sys.argv = [target]
        try:
            if target.startswith("-m "):
                runpy.run_module(target[3:], run_name="__main__", alter_sys=True)
            else:
                sys.path.insert(0, str((REPO / target).parent))   # as "python benchmarks/x.py" does
                runpy.run_path(str(REPO / target), run_name="__main__")
            result[target] = {"error": "it never called parse_args"}
        except _ParserFound as found:
            result[target] = describe(found.parser)
        except BaseException as exc:  # noqa: BLE001 (a broken script is reported, not fatal to the others)
            result[target] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            sys.path[:] = path_before
            for name in set(sys.modules) - before:   # sibling helpers (run.py's standard.py, ...) differ per folder
                if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(REPO / "benchmarks")):
                    del sys.modules[name]
    return result


@lru_cache(maxsize=None)
def cli_description() -> dict:
    from kdpose.cli.main import build_parser

    return describe(build_parser())


@lru_cache(maxsize=None)
def target_descriptions() -> dict:
    commands = all_commands()
    targets = sorted({f"-m {c.target}" for c in commands if c.kind == "module"}
                     | {c.target for c in commands if c.kind == "script" and (REPO / c.target).is_file()})
    out = subprocess.run([sys.executable, __file__, "--describe", *targets], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, f"describing the scripts' parsers failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------- checks


def _option_like(word: str) -> bool:
    return bool(re.match(r"--[A-Za-z]|-[A-Za-z]$", word))


def check_arguments(desc: dict, args: tuple[str, ...], name: str) -> tuple[list[str], list[str], dict]:
    """Walk ``args`` as argparse would: (problems, positional words, option -> its values)."""
    problems, positionals, values = [], [], {}
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            positionals += args[i:]
            break
        if not _option_like(word):
            if desc["subcommands"] is not None:
                if word not in desc["subcommands"]:
                    close = difflib.get_close_matches(word, desc["subcommands"], n=1)
                    problems.append(f"'{word}' is not a sub-command of {name}"
                                    + (f" (did you mean '{close[0]}'?)" if close else ""))
                    return problems, positionals, values
                desc, name = desc["subcommands"][word], f"{name} {word}"
            else:
                positionals.append(word)
            continue
        option, eq, inline = word.partition("=")
        spec = desc["options"].get(option)
        if spec is None:
            close = difflib.get_close_matches(option, desc["options"], n=2)
            problems.append(f"{name} has no option {option}" + (f" (did you mean {' or '.join(close)}?)" if close
                                                                    else ""))
            continue
        nargs, got = spec["nargs"], [inline] if eq else []
        if not eq and nargs != 0:
            if nargs == 1 or nargs == "?":
                if i < len(args) and not _option_like(args[i]) and (
                        nargs == 1 or spec["choices"] is None or args[i] in spec["choices"]):
                    got, i = [args[i]], i + 1
            elif isinstance(nargs, int):
                got, i = list(args[i:i + nargs]), i + nargs
            else:                                    # +, *, ...: every word up to the next option
                while i < len(args) and not _option_like(args[i]):
                    got.append(args[i])
                    i += 1
        values.setdefault(option, []).extend(got)
        for value in got:
            problems += _value_problems(spec, value, f"{name} {option}")
    # a lone positional with choices (benchmarks/dwpose/run.py's tables) checks its words too
    if len(desc["positionals"]) == 1 and desc["positionals"][0]["choices"]:
        for word in positionals:
            problems += _value_problems(desc["positionals"][0], word, name)
    return problems, positionals, values


def _value_problems(spec: dict, value: str, what: str) -> list[str]:
    if PLACEHOLDER.search(value):
        return []
    if "|" in value:                                 # alternatives: table4|table5, true|false
        return [p for alternative in value.split("|") for p in _value_problems(spec, alternative, what)]
    if spec["choices"] is not None and value not in spec["choices"]:
        return [f"{what}: '{value}' is not one of {', '.join(spec['choices'])}"]
    if spec["type"]:
        try:
            {"int": int, "float": float}[spec["type"]](value)
        except ValueError:
            return [f"{what}: '{value}' is not an {spec['type']}"]
    return []


@lru_cache(maxsize=None)
def _registries() -> tuple[set, object, set]:
    from kdpose.detection.registry import DETECTORS
    from kdpose.inference.detectors import OFFICIAL_DETECTORS
    from kdpose.models import PRETRAINED, list_models

    return set(list_models()), PRETRAINED, {"none", *DETECTORS.names(), *OFFICIAL_DETECTORS}


def _is_name(value: str) -> bool:
    """A registry name, not a file, folder, URL or placeholder."""
    return not (PLACEHOLDER.search(value) or "/" in value or value.endswith(FILE_SUFFIXES) or value.isdigit())


@lru_cache(maxsize=None)
def tags_shipped_by_docs() -> frozenset[str]:
    """Tags that a documented ``python -m kdpose.tasks.ship ... --tag TAG`` creates: the docs show the steps after
    shipping (measure it, use it) for tags not registered yet, e.g. the standard detector's."""
    tags = set()
    for command in all_commands():
        if command.kind == "module" and command.target == "kdpose.tasks.ship":
            pairs = zip(command.args, command.args[1:])
            tags.update(value for option, value in pairs if option in ("--tag", "--backbone-tag"))
    return frozenset(tags)


def model_problems(value: str) -> list[str]:
    models, pretrained, _ = _registries()
    if (not _is_name(value) or value in models or value in pretrained      # PRETRAINED accepts tags without _WxH
            or value in tags_shipped_by_docs()):
        return []
    close = difflib.get_close_matches(value, [*models, *pretrained.keys()], n=2, cutoff=0.6)
    return [f"'{value}' is neither a zoo model (kdpose.list_models()) nor a pretrained tag "
            f"(kdpose.models.list_pretrained())" + (f"; did you mean {' or '.join(close)}?" if close else "")]


def detector_problems(value: str) -> list[str]:
    _, pretrained, detectors = _registries()
    if not _is_name(value) or value in detectors or value in pretrained or value in tags_shipped_by_docs():
        return []
    return [f"'{value}' is not a detector tag or name (kdpose.inference.detectors.OFFICIAL_DETECTORS, "
            "kdpose.detection.registry.DETECTORS, shipped kdpose-det-* tags)"]


def config_problems(words: tuple[str, ...]) -> list[str]:
    problems = []
    for word in words:
        path = word.partition("=")[2] if word.startswith("-") else word
        if not path.startswith("configs/") or PLACEHOLDER.search(path):
            continue
        if not (glob.glob(str(REPO / path)) if glob.has_magic(path) else (REPO / path).is_file()):
            names = [str(p.relative_to(REPO)) for p in (REPO / "configs").rglob("*.yaml")]
            close = difflib.get_close_matches(path, names, n=1)
            problems.append(f"{path} does not exist" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def recipe_problems(recipe: str, overrides: list[str], distill: bool) -> list[str]:
    """What ``kdpose train`` / ``distill`` would refuse when reading the recipe with its ``--set`` overrides (unknown
    keys, wrong types, a recipe without a distill section for ``distill``). Reading a recipe is YAML and dataclasses
    only. A value written as alternatives (``train.channels_last=true|false``) is read once per alternative."""
    from kdpose.engine.config import load_recipe
    from kdpose.errors import KdposeError

    if PLACEHOLDER.search(recipe) or glob.has_magic(recipe) or not (REPO / recipe).is_file():
        return []                                  # config_problems reports a missing file
    overrides = [o for o in overrides if not PLACEHOLDER.search(o)]
    fixed = [o for o in overrides if "|" not in o]
    trials = [fixed] + [fixed + [f"{o.partition('=')[0]}={alt}"] for o in overrides if "|" in o
                        for alt in o.partition("=")[2].split("|")]
    problems = []
    for trial in trials:
        try:
            cfg = load_recipe(REPO / recipe, trial)
        except KdposeError as exc:
            problems.append(f"reading the recipe: {exc}")
            continue
        if distill and not cfg.distill.method:
            problems.append(f"{recipe} has no distill.method: kdpose distill refuses it (use kdpose train)")
    return sorted(set(problems))


def command_problems(command: Command) -> list[str]:
    if command.kind == "broken":
        return ["the shell cannot split it into words (unbalanced quotes)"]
    problems = config_problems(command.args)
    if command.kind == "shell":
        script = REPO / command.target
        if not script.is_file():
            return problems + [f"{command.target} does not exist"]
        text = script.read_text(encoding="utf-8")
        return problems + [f"{command.target} never mentions {w}" for w in command.args
                           if w.startswith("--") and w.partition("=")[0] not in text]
    if command.kind == "kdpose":
        desc, name, sub = cli_description(), "kdpose", next((a for a in command.args if not _option_like(a)), "")
    else:
        key = f"-m {command.target}" if command.kind == "module" else command.target
        if command.kind == "script" and not (REPO / command.target).is_file():
            return problems + [f"{command.target} does not exist"]
        desc, sub = target_descriptions()[key], ""
        name = f"python {key}"
        if "error" in desc:
            return problems + [f"could not read the argument parser of {key}: {desc['error']}"]
    found, positionals, values = check_arguments(desc, command.args, name)
    problems += found
    if command.kind == "kdpose":
        positionals = positionals[1:] if positionals and positionals[0] == sub else positionals
    if command.kind == "kdpose" and sub in ("train", "distill") and positionals:
        problems += recipe_problems(positionals[0], values.get("--set", []), sub == "distill")
    count = MODEL_POSITIONALS.get((command.kind, sub or command.target), 0)
    for word in positionals[:count] if count is not None else positionals:
        problems += model_problems(word)
    for option, got in values.items():
        for value in got:
            if option in MODEL_OPTIONS or (command.kind == "kdpose" and option == "--weights"):
                problems += model_problems(value)
            elif option in DETECTOR_OPTIONS:
                problems += detector_problems(value)
    return problems


# ----------------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: f"{c.file}:{c.line}")
def test_doc_command(command: Command) -> None:
    problems = command_problems(command)
    assert not problems, f"{command.where()}\n  " + "\n  ".join(problems)

def test_every_kind_of_command_is_found() -> None:
    kinds = {}
    for command in all_commands():
        kinds[command.kind] = kinds.get(command.kind, 0) + 1
    # the docs hold well over these many; far fewer means the extractor broke
    assert kinds.get("kdpose", 0) > 80 and kinds.get("script", 0) > 40, kinds
    assert kinds.get("module", 0) > 5 and kinds.get("shell", 0) > 2, kinds


def test_checks_catch_mistakes() -> None:
    def problems(*args: str) -> str:
        return "\n".join(command_problems(Command("x.md", 1, "kdpose ...", "kdpose", "", args)))

    found = problems("infer", "a.jpg", "--model", "rtmpose-q", "--nms", "maybe", "--batch", "two", "--jsn")
    assert all(s in found for s in ("rtmpose-q", "'maybe'", "'two'", "--jsn")), found
    found = problems("trian", "configs/nope.yaml")
    assert "'trian'" in found and "configs/nope.yaml does not exist" in found, found
    # a tag without its _WxH suffix, placeholders and a glob of configs are fine
    assert not problems("export", "rtmpose-m.synth-standard", "--out", "OUT.onnx", "--batch", "N")
    assert not problems("train", "configs/*synth-depth*.yaml", "--set", "KEY=VALUE")
    recipe = "configs/rtmpose-t_synth-body.yaml"
    assert "unknown key 'lrr'" in problems("train", recipe, "--set", "optim.lrr=1")
    assert "optim.lr" in problems("train", recipe, "--set", "optim.lr=fast")
    assert "no distill.method" in problems("distill", recipe)


def test_extraction_rules() -> None:
    doc = ("Text with `kdpose infer\nphoto.jpg --json` and `kdpose.load_model()`, `benchmarks/y.py`,\n"
           "`benchmarks/z.py --quick` and `~/.cache/kdpose`.\n\n"
           "```bash\n"
           "kdpose train configs/a.yaml \\\n    --work-dir w   # a comment --not-an-option\n"
           "$ python benchmarks/x.py --seeds 0 1 && kdpose eval --gt G --pred P\n"
           "torchrun --nproc_per_node 2 -m kdpose train configs/b.yaml\n"
           "python -m venv /tmp/v\n```\n\n"
           "    .venv/bin/python -m kdpose.tasks.ship RUN --tag TAG\n")
    got = [(c.line, c.kind, c.target, c.args) for c in commands_of("x.md", doc)]
    assert got == [(6, "kdpose", "", ("train", "configs/a.yaml", "--work-dir", "w")),
                   (8, "script", "benchmarks/x.py", ("--seeds", "0", "1")),
                   (8, "kdpose", "", ("eval", "--gt", "G", "--pred", "P")),
                   (9, "kdpose", "", ("train", "configs/b.yaml")),
                   (13, "module", "kdpose.tasks.ship", ("RUN", "--tag", "TAG")),
                   (1, "kdpose", "", ("infer", "photo.jpg", "--json")),
                   (3, "script", "benchmarks/z.py", ("--quick",))]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--describe"]:
        print(json.dumps(_describe_targets(sys.argv[2:])))
    elif sys.argv[1:2] == ["--list"]:
        for c in all_commands():
            print(f"{c.kind:7} {c.where()}")
