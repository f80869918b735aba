"""The house in order: every import in scenegen (and the viewer) runs down the layers, and no
modules import each other in a circle. Read from the source, so an arrow added anywhere (also
inside a function) fails here. The layers are in the README's architecture section."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import what is in a lower layer, and its own package; nothing beside
# it or above it. Top-level modules and subpackages of scenegen are named by their first part.
LAYERS = [
    {"errors", "version", "deprecated"},
    {"compiled", "geometry", "sh"},
    {"camera", "gaussians", "metrics"},
    {"gaussian_motion"},
    {"common"},
    {"render"},
    {"scene"},
    {"data", "synth"},
    {"io"},
    {"recon"},
    {"edit"},
    {"export"},
    {"pipeline", "demo"},
    {"batch"},
    {"cli", "__init__"},
    {"apps"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "scenegen").rglob("*.py")) + sorted((ROOT / "apps").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict) -> list[tuple[str, int, bool]]:
    """(imported scenegen/apps module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks are not imports at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                top_level.discard(id(inner))
                inner._typing_only = True
    out = []
    for node in ast.walk(tree):
        if getattr(node, "_typing_only", False):
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in known else base)
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.append((target, node.lineno, id(node) in top_level))
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "apps":
        return "apps"
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_import_runs_down_the_layers():
    known = modules()
    unplaced = sorted({layer(m) for m in known} - set(RANK))
    assert not unplaced, f"place these in LAYERS (and in the README's table): {unplaced}"
    wrong = []
    for name, path in known.items():
        for target, line, _ in imports(name, path, known):
            here, there = layer(name), layer(target)
            if here != there and RANK[there] >= RANK[here]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} {name} -> {target} ({here} is not above {there})")
    assert not wrong, "imports that run up or sideways:\n" + "\n".join(wrong)


def test_no_modules_import_each_other_in_a_circle():
    known = modules()
    graph = defaultdict(set)
    for name, path in known.items():
        for target, _, module_level in imports(name, path, known):
            if module_level:
                graph[name].add(target)
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(known):
        if node not in state:
            visit(node, [])
    assert not cycles, "modules that import each other at load time:\n" + "\n".join(cycles)


def test_the_checks_see_a_bad_arrow(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("from ..edit import EditSession\n\ndef f():\n    from ..recon.train import train\n")
    known = {"scenegen.render.bad": path, "scenegen.edit": path, "scenegen.recon.train": path}
    found = {(t, top) for t, _, top in imports("scenegen.render.bad", path, known)}
    assert found == {("scenegen.edit", True), ("scenegen.recon.train", False)}
