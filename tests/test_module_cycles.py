"""No circle of imports in the portal: a module never imports, by any path, a module that
imports it back. Imports inside functions count (they hide a circle, they do not remove
it). In the monthly cycle the lists (``services.payments``) read the decisions
(``services.changes``), never the other way round (docs: "One direction in the cycle")."""
import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"


def _module(path):
    parts = list(path.relative_to(PORTAL.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root=PORTAL):
    """``{module: {modules of the package it imports}}`` for every ``.py`` under ``root``."""
    files = {_module(p): p for p in root.rglob("*.py")}
    edges = {m: set() for m in files}
    for m, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = m.split(".")
                    up = here[:len(here) - node.level + (1 if is_package else 0)]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in files:
                    t = t.rpartition(".")[0]
                # a package's __init__ handing names on is not a dependency of its modules
                if t and t != m and not m.startswith(t + "."):
                    edges[m].add(t)
    return edges


def circles(edges):
    """The groups of two or more modules that reach each other (strongly connected)."""
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for w in edges[todo.pop()]:
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    reached = {m: reach(m) for m in edges}
    groups = {frozenset({m} | {w for w in reached[m] if m in reached[w]}) for m in edges}
    return sorted(sorted(g) for g in groups if len(g) > 1)


def test_the_check_finds_a_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_circle_of_imports_in_the_portal():
    edges = import_graph()
    assert "portal.services.payments" in edges and "portal.services.changes" in edges
    assert circles(edges) == []


def test_the_lists_read_the_decisions_never_the_other_way_round():
    edges = import_graph()
    assert "portal.services.changes" in edges["portal.services.payments"]
    assert "portal.services.payments" not in edges["portal.services.changes"]
