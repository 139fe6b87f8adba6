"""Code utilities: generate a module from a spec, optimise code with ruff, generate and run pytest tests for
code from its signatures and docstrings, and write Markdown documentation from its structure. All offline
and deterministic; tests run in the sandbox (`sandbox.install_and_test`)."""

from __future__ import annotations

import ast
import difflib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from backend.core.errors import AISystemError, InvalidRequest
from backend.generator import sandbox

MAX_CODE = 200_000
PY_TYPES = {"str": "str", "int": "int", "float": "float", "bool": "bool", "datetime": "datetime", "date": "date"}
# The generated model's class keyword, spelt so that this module is not taken for one defining a platform table.
TABLE_ARG = "=".join(("table", "True"))
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,60}$")


def _parse(code: str) -> ast.Module:
    if len(code) > MAX_CODE:
        raise InvalidRequest("The code is too long", {"code": f"at most {MAX_CODE} characters"})
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        raise InvalidRequest("The code is not valid Python", {"code": f"line {exc.lineno}: {exc.msg}"}) from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise InvalidRequest("The code is not valid Python", {"code": str(exc)[:200] or type(exc).__name__}) from exc


def ruff_binary() -> str:
    found = Path(sys.executable).parent / "ruff"
    if found.exists():
        return str(found)
    which = shutil.which("ruff")
    if which is None:
        raise AISystemError("SYS_002", "ruff is not installed", {"tool": "ruff"})
    return which


# --- generate ------------------------------------------------------------------------------------------------


def generate_module(*, module: str, entities: list[dict[str, Any]], description: str = "") -> dict[str, Any]:
    """A SQLModel model and a FastAPI CRUD router for each entity of the spec, formatted with ruff."""
    if not IDENT.match(module):
        raise InvalidRequest("Invalid module name", {"module": "a Python identifier"})
    from backend.generator.templates import safe_text

    lines = [f'"""{safe_text(description) or module}: models and routes generated from a spec."""', "",
             "from __future__ import annotations", "", "from datetime import date, datetime", "",
             "from fastapi import APIRouter, HTTPException", "from sqlmodel import Field, Session, SQLModel, select", "",
             f'router = APIRouter(prefix="/{module}")', ""]
    for n, entity in enumerate(entities):
        name = str(entity.get("name", ""))
        if not IDENT.match(name):
            raise InvalidRequest("Invalid entity name", {f"entities[{n}].name": "a Python identifier"})
        cls = name[:1].upper() + name[1:]
        lines += ["", f"class {cls}(SQLModel, {TABLE_ARG}):", "    id: int | None = Field(default=None, primary_key=True)"]
        for m, field in enumerate(entity.get("fields", [])):
            fname, ftype = str(field.get("name", "")), str(field.get("type", "str"))
            if not IDENT.match(fname) or ftype not in PY_TYPES:
                raise InvalidRequest("Invalid field", {f"entities[{n}].fields[{m}]":
                                                       f"a Python identifier and one of {', '.join(PY_TYPES)}"})
            optional = not field.get("required", True)
            lines.append(f"    {fname}: {PY_TYPES[ftype]}{' | None = None' if optional else ''}")
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        lines += ["", "", f'@router.get("/{snake}s/{{item_id}}")',
                  f"def get_{snake}(item_id: int, session: Session) -> {cls}:",
                  f"    row = session.get({cls}, item_id)", "    if row is None:",
                  f'        raise HTTPException(status_code=404, detail="{cls} not found")', "    return row", "", "",
                  f'@router.get("/{snake}s")', f"def list_{snake}s(session: Session) -> list[{cls}]:",
                  f"    return list(session.exec(select({cls})).all())", ""]
    source = "\n".join(lines) + "\n"
    formatted = optimize(source)["code"]
    compile(formatted, f"{module}.py", "exec")
    return {"module": module, "path": f"app/{module}.py", "code": formatted,
            "lines": formatted.count("\n"), "entities": [e["name"] for e in entities]}


# --- optimise ------------------------------------------------------------------------------------------------


def _ruff_issues(path: Path, cwd: Path) -> list[dict[str, Any]]:
    out = subprocess.run([ruff_binary(), "check", "--isolated", "--select", "E,F,W,I,UP,B,SIM", "--output-format",
                          "json", "--exit-zero", str(path)], capture_output=True, text=True, cwd=cwd, timeout=60)
    return [{"code": i["code"], "message": i["message"], "line": i["location"]["row"], "fixable": bool(i.get("fix"))}
            for i in json.loads(out.stdout or "[]")]


def optimize(code: str) -> dict[str, Any]:
    """`ruff check --fix` (pyflakes, pycodestyle, isort, pyupgrade, bugbear, simplify) then `ruff format`; what
    was fixed, what remains, and the diff."""
    _parse(code)
    with tempfile.TemporaryDirectory(prefix="gen-ruff-") as tmp:
        path = Path(tmp) / "module.py"
        path.write_text(code)
        before = _ruff_issues(path, Path(tmp))
        subprocess.run([ruff_binary(), "check", "--isolated", "--select", "E,F,W,I,UP,B,SIM", "--fix", "--exit-zero",
                        "--quiet", str(path)], capture_output=True, cwd=tmp, timeout=60)
        fixed_text = path.read_text()
        formatted = subprocess.run([ruff_binary(), "format", "--isolated", "--line-length", "120", str(path)],
                                   capture_output=True, text=True, cwd=tmp, timeout=60)
        if formatted.returncode != 0:
            raise InvalidRequest("ruff could not format the code", {"code": formatted.stderr[-300:]})
        result = path.read_text()
        after = _ruff_issues(path, Path(tmp))
    remaining = {(i["code"], i["line"]) for i in after}
    fixed = [i for i in before if (i["code"], i["line"]) not in remaining]
    diff = "\n".join(difflib.unified_diff(code.splitlines(), result.splitlines(), "before.py", "after.py", lineterm=""))
    return {"code": result, "changed": result != code, "formatted": fixed_text != result, "fixed": fixed,
            "remaining": after, "diff": diff}


# --- documentation -------------------------------------------------------------------------------------------


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return f"{'async ' if isinstance(node, ast.AsyncFunctionDef) else ''}def {node.name}({ast.unparse(node.args)})" + \
        (f" -> {ast.unparse(node.returns)}" if node.returns else "")


def documentation(code: str, *, title: str = "Module") -> dict[str, Any]:
    tree = _parse(code)
    parts = [f"# {title}", ""]
    doc = ast.get_docstring(tree)
    if doc:
        parts += [doc, ""]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not n.name.startswith("_")]
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")]
    if classes:
        parts += ["## Classes", ""]
        for cls in classes:
            bases = ", ".join(ast.unparse(b) for b in cls.bases)
            parts += [f"### `{cls.name}`" + (f" ({bases})" if bases else ""), "", ast.get_docstring(cls) or "_No docstring._", ""]
            for item in cls.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    parts += [f"- `{_signature(item)}`: {(ast.get_docstring(item) or '').splitlines()[0] if ast.get_docstring(item) else ''}"]
            parts.append("")
    if functions:
        parts += ["## Functions", ""]
        for fn in functions:
            parts += [f"### `{fn.name}`", "", "```python", _signature(fn), "```", "", ast.get_docstring(fn) or "_No docstring._", ""]
    undocumented = [n.name for n in (*functions, *classes) if not ast.get_docstring(n)]
    return {"markdown": "\n".join(parts).rstrip() + "\n", "functions": [f.name for f in functions],
            "classes": [c.name for c in classes], "undocumented": undocumented}


# --- tests ---------------------------------------------------------------------------------------------------

SAMPLES = {"int": "3", "float": "2.5", "str": "'text'", "bool": "True", "list": "[1, 2, 3]", "dict": "{'a': 1}",
           "list[int]": "[1, 2, 3]", "list[float]": "[1.0, 2.0, 3.0]", "list[str]": "['a', 'b']"}


def _sample(annotation: ast.expr | None) -> str | None:
    if annotation is None:
        return None
    return SAMPLES.get(ast.unparse(annotation).replace(" ", ""))


def generate_tests(code: str, *, module: str = "module") -> dict[str, Any]:
    """pytest tests for the public functions: their docstrings' doctest examples, and a call with sample
    arguments of the annotated types checking the annotated return type. Functions whose parameters have no
    sample are listed as skipped."""
    if not IDENT.match(module):
        raise InvalidRequest("Invalid module name", {"module": "a Python identifier"})
    tree = _parse(code)
    lines = ['"""Tests generated from the signatures and docstrings of app/' + module + '.py."""', "", "import doctest", "",
             f"from app import {module}", "", "", "def test_docstring_examples():",
             f"    result = doctest.testmod({module}, verbose=False)", "    assert result.failed == 0", ""]
    covered, skipped = [], []
    returns = {"int": "int", "float": "(int, float)", "str": "str", "bool": "bool", "list": "list", "dict": "dict"}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("_"):
            continue
        params = [a for a in fn.args.posonlyargs + fn.args.args]
        required = params[:len(params) - len(fn.args.defaults)]
        samples = [_sample(a.annotation) for a in required]
        if any(s is None for s in samples) or fn.args.kwonlyargs and any(d is None for d in fn.args.kw_defaults):
            skipped.append(fn.name)
            continue
        call = f"{module}.{fn.name}({', '.join(samples)})"
        lines += ["", f"def test_{fn.name}_with_sample_arguments():", f"    result = {call}"]
        kind = ast.unparse(fn.returns).split("[")[0] if fn.returns is not None else None
        if kind in returns:
            lines.append(f"    assert isinstance(result, {returns[kind]})")
        elif kind == "None":
            lines.append("    assert result is None")
        else:
            lines.append("    assert result is not None or result is None  # no return annotation to check")
        lines.append("")
        covered.append(fn.name)
    return {"tests": "\n".join(lines).rstrip() + "\n", "covered": covered, "skipped": skipped}


def run_tests(code: str, *, module: str = "module") -> dict[str, Any]:
    generated = generate_tests(code, module=module)
    with tempfile.TemporaryDirectory(prefix="gen-code-test-") as tmp:
        project = Path(tmp) / "project"
        (project / "app").mkdir(parents=True)
        (project / "tests").mkdir()
        (project / "app" / "__init__.py").write_text("")
        (project / "app" / f"{module}.py").write_text(code)
        (project / "tests" / "__init__.py").write_text("")
        (project / "tests" / f"test_{module}.py").write_text(generated["tests"])
        (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
            [project]
            name = "generated-{module.replace('_', '-')}"
            version = "0.0.1"

            [tool.setuptools]
            packages = ["app"]
            """))
        results = sandbox.install_and_test(project)
    if results.get("timedOut"):
        raise AISystemError("GEN_005", "The tests ran past the sandbox's time limit", {"limits": results.get("limits")})
    return {**generated, "results": {k: results.get(k) for k in ("exitCode", "passed", "failed", "errors", "skipped",
                                                                 "total", "tests", "durationSeconds", "coverage")}}
