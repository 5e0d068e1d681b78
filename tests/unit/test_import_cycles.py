"""No import cycle in the package, counting every import statement,
including those inside functions (which only hide a cycle at load time).

Static: the modules are parsed with ast, never imported."""

import ast
import os

import openrc_sv

PKG_DIR = os.path.dirname(os.path.abspath(openrc_sv.__file__))


def _modules():
    mods = {}
    for dirpath, dirnames, filenames in os.walk(PKG_DIR):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        rel = os.path.relpath(dirpath, os.path.dirname(PKG_DIR))
        pkg = rel.replace(os.sep, ".")
        for f in filenames:
            if f.endswith(".py"):
                name = pkg if f == "__init__.py" else pkg + "." + f[:-3]
                mods[name] = os.path.join(dirpath, f)
    return mods


def _package_of(name, path):
    return name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]


def _edges(mods):
    graph = {m: set() for m in mods}
    for name, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        here = _package_of(name, path)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                # `from . import mod` imports the submodule (its package is
                # already loading, as every parent is); `from .mod import
                # name`, or a name that is no submodule, imports `base` itself.
                subs = ["%s.%s" % (base, a.name) for a in node.names]
                targets = [t for t in subs if t in mods]
                if len(targets) < len(subs):
                    targets.append(base)
            for t in targets:
                if t in mods and t != name:
                    graph[name].add(t)
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_finder_sees_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_parser_counts_function_level_and_relative_imports():
    graph = _edges(_modules())
    assert "openrc_sv.rcstate" in graph["openrc_sv.supervise_daemon"]
    assert "openrc_sv.command" in graph["openrc_sv.supervise_daemon"]   # inside start()


def test_no_import_cycle_in_the_package():
    assert _cycles(_edges(_modules())) == []
