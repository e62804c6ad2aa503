"""The house rules that import-linter's layering contract (pyproject.toml) does not cover:
no import cycles between hclg's modules (imports inside functions included), no underscored
name imported across modules, and modules and functions of a readable size unless their
docstring says why."""

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "hclg"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 120


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(tree: ast.Module, name: str, is_package: bool):
    """(imported module, imported names) of every import in the module, nested ones too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([node.module] if node.module else []))
            yield base, tuple(a.name for a in node.names)


def module_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """module -> the hclg modules it imports (``from pkg import mod`` counts as mod)."""
    graph = {}
    for name, text in files.items():
        deps = set()
        for mod, names in imports_of(ast.parse(text), name, False):
            if mod.split(".")[0] != "hclg" or mod == name:
                continue
            subs = {f"{mod}.{n}" for n in names} & files.keys()
            deps |= subs or ({mod} & files.keys())
        graph[name] = deps - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (depth-first search), or None."""
    state = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if state.get(w) == 0:
                c = visit(w)
                if c:
                    return c
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if state[v] == 0:
            c = visit(v)
            if c:
                return c
    return None


def private_imports(files: dict[str, str]) -> list[str]:
    """``module: from x import _name`` for each underscored name imported from hclg."""
    bad = []
    for name, text in files.items():
        for mod, names in imports_of(ast.parse(text), name, False):
            if mod.split(".")[0] == "hclg":
                bad += [f"{name}: from {mod} import {n}" for n in names if n.startswith("_") and not n.startswith("__")]
    return bad


def hclg_sources() -> dict[str, str]:
    return {module_name(p): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_checks_catch_what_they_look_for():
    files = {"hclg.a": "from hclg.b import f\n", "hclg.b": "def g():\n    from hclg import a\n",
             "hclg.c": "from hclg.a import _private\n"}
    assert find_cycle(module_graph(files)) == ["hclg.a", "hclg.b", "hclg.a"]
    assert private_imports(files) == ["hclg.c: from hclg.a import _private"]
    assert find_cycle(module_graph({"hclg.a": "from hclg.b import f\n", "hclg.b": "x = 1\n"})) is None


def test_no_import_cycles():
    assert find_cycle(module_graph(hclg_sources())) is None


def test_no_private_names_across_modules():
    assert private_imports(hclg_sources()) == []


def test_modules_and_functions_are_short_or_say_why():
    long = []
    for name, text in hclg_sources().items():
        tree = ast.parse(text)
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES and "Longer than" not in (ast.get_docstring(tree) or ""):
            long.append(f"{name}: {n} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                m = node.end_lineno - node.lineno + 1
                if m > MAX_FUNCTION_LINES and "Longer than" not in (ast.get_docstring(node) or ""):
                    long.append(f"{name}.{node.name}: {m} lines")
    assert long == []


def test_the_public_api_is_at_the_top():
    import subprocess
    import sys

    import hclg

    assert hclg.__version__ == "0.1.0"
    for name in hclg.__all__:
        assert getattr(hclg, name) is not None, name
    assert hclg.Decoder.__module__ == "hclg.search.decoder"
    assert issubclass(hclg.LatticeDecoder, hclg.Decoder)
    out = subprocess.run([sys.executable, "-c", "import hclg; print(hclg.__version__, hclg.Decoder.__name__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0.1.0", "Decoder"]
