"""The layers of the two apps, read from the source: ``outbox`` is the base and never depends on ``inbox``, and
no module depends on itself through others (an import circle).

Every dependency counts, not only the imports at the top of a module: imports inside functions (a lazy
import is still a dependency), ``TYPE_CHECKING`` imports, ``apps.get_model("inbox", ...)`` and
``importlib.import_module("...")`` lookups by name, and the modules named in ``lazy_exports(...)``.
Migrations are left out: they are generated, and name models by string on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("outbox", "inbox")


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of both apps but their migrations."""
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def dependencies(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of both apps that module ``name`` (at ``path``) depends on."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return {target for target in _named(ast.parse(path.read_text()), package, known) if target != name}


def _named(tree: ast.AST, package: str, known: set[str]) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (_module(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            yield from (_module(f"{base}.{alias.name}", known) for alias in node.names)
        elif isinstance(node, ast.Call):
            yield from (_module(text, known) for text in _looked_up(node))


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{parent}.{node.module}" if node.module else parent


def _module(dotted: str, known: set[str]) -> str:
    """The longest known module that ``dotted`` names (``from outbox import status`` -> ``outbox.status``,
    ``from outbox.models import Status`` -> ``outbox.models``); "" when it is not one of ours."""
    parts = dotted.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def _looked_up(call: ast.Call) -> Iterator[str]:
    """Module names in ``get_model("app", ...)``, ``import_module("mod")`` and ``lazy_exports(..., {...})``."""
    function = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    texts = [arg.value for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    if function == "get_model" and texts:
        yield f"{texts[0]}.models"
    elif function == "import_module" and texts:
        yield texts[0]
    elif function == "lazy_exports":
        for arg in call.args:
            if isinstance(arg, ast.Dict):
                yield from (value.value for value in arg.values if isinstance(value, ast.Constant))


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: dependencies(name, path, known) - {""} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One circle (``a -> b -> ... -> a``) per group of modules that depend on each other (Tarjan's strongly
    connected components); [] when the graph has none."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(_circle(set(component), edges))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _circle(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(edges[node] & component):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no circle through {start}")  # a strongly connected component always has one


def test_architecture__outbox_never_depends_on_inbox():
    upward = sorted(f"{name} -> {target}" for name, targets in graph().items() if name.split(".")[0] == "outbox"
                    for target in targets if target.split(".")[0] == "inbox")
    assert not upward, "outbox depends on inbox:\n" + "\n".join(upward)


def test_architecture__no_import_circle():
    found = [" -> ".join(circle) for circle in cycles(graph())]
    assert not found, "import circles:\n" + "\n".join(found)


def test_architecture__the_walk_sees_lazy_imports_lookups_by_name_and_circles():
    """The checker itself: a lazy import, a get_model lookup and a lazy export are edges; a circle is found."""
    edges = graph()
    assert "outbox.publisher" in edges["outbox"]  # lazy_exports
    assert "outbox.models" in edges["outbox.publisher"]
    tree = ast.parse("def f():\n    from outbox import models\n    apps.get_model('inbox', 'InboxMessage')\n")
    assert set(_named(tree, "outbox", {"outbox.models", "inbox.models"})) == {"outbox.models", "inbox.models"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
