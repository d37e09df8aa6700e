"""The shape of the code: no import cycle in ldx, no oversized module, one source of defaults."""

import ast
import dataclasses
import pathlib

import pytest

from configs.default import get_config
from ldx.data import DataConfig
from ldx.ld import ModelConfig, ObjectiveConfig, SamplerConfig

LDX = pathlib.Path(__file__).resolve().parent.parent / "ldx"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(LDX.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: ldx modules it imports}, from module-level and function-level imports alike.

    `from ldx.a import b` is an edge to `ldx.a.b` when that is a module, else to `ldx.a`.
    """
    modules = {_module_name(p): p for p in LDX.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_ldx_import_graph_has_no_cycle():
    # Given every import statement in ldx (top-level and inside functions); then the module
    # graph is acyclic.
    graph = import_graph()
    assert "ldx.ld.experiment" in graph and "ldx.experiment" in graph["ldx.ld.experiment"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(LDX.parent)): n
        for p in LDX.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long


@pytest.mark.parametrize(
    "cls, section",
    [
        (ModelConfig, "model"),
        (ObjectiveConfig, "objective"),
        (SamplerConfig, "sample"),
        (DataConfig, "data"),
    ],
)
def test_dataclass_defaults_equal_the_config_file(cls, section):
    # Given a typed config with defaults; then each default equals configs/default.py's value
    # of that field (fields the config file does not hold are set by the method or the data).
    config = get_config()[section]
    checked = 0
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING or field.name not in config:
            continue
        value = config[field.name]
        assert field.default == (tuple(value) if isinstance(value, tuple) else value), field.name
        checked += 1
    assert checked >= 3


def test_train_config_has_no_defaults():
    # configs/default.py is the one source of config.train's values.
    from ldx.train import TrainConfig

    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(TrainConfig))
