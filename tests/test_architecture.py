"""The house rules that import-linter cannot state: no circles between our modules, no function
longer than a screen, no SQL outside storage, and only the CLI builds the whole application."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("handlers", "storage", "reports", "scheduler", "bot")
MAX_LINES = 60
# A long function is allowed where a comment within its first lines says why (a migration is a
# frozen record of one schema change: splitting it would rewrite history).
WHY_LONG = re.compile(r"#.*\blong\b", re.IGNORECASE)
# SQLAlchemy's select() and text() called bare, or a session executing a statement. A method
# named `text` (matplotlib's ax.text) or a class named `…Context(` is not SQL; import-linter's
# contract already keeps sqlalchemy and sqlmodel themselves out of every other package.
SQL = re.compile(r"(?<![\w.])(select|text)\(|session\.execute|\.exec\(")


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_our_modules_import_each_other_without_circles() -> None:
    # Every import counts, including those under TYPE_CHECKING and inside functions: they hide
    # the same dependency.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    ours = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i in ours and i != m}
        for m in ours
    }
    # A package's __init__ importing its own submodules is how Python packages work, not a circle.
    for module, imported in edges.items():
        edges[module] = {i for i in imported if not i.startswith(module + ".")}
    circles = _strongly_connected(edges)
    assert not circles, "circular imports:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_no_function_is_longer_than_a_screen_unless_it_says_why() -> None:
    too_long = []
    for path in _sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            head = "\n".join(lines[first - 2 : node.lineno + 3])  # the comment above, or inside
            if length > MAX_LINES and not WHY_LONG.search(head):
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert not too_long, "functions over 60 lines:\n" + "\n".join(too_long)


def test_sql_is_written_only_in_storage() -> None:
    found = []
    for path in _sources():
        if path.parts[len(ROOT.parts)] == "storage":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "SQL outside storage/:\n" + "\n".join(found)


def test_only_the_command_line_builds_the_whole_application() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    importers = graph.find_modules_that_directly_import("bot.app")
    assert importers <= {"bot.cli"}, sorted(importers)


def _commented(lines: list[str], index: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to (or on the
    `if TYPE_CHECKING:` line that opens it)."""
    while index >= 0:
        line = lines[index].strip()
        if "#" in line and not line.startswith("#"):
            return line.startswith(("from ", "import ", "if "))
        if line.startswith("#"):
            return True
        if line.startswith("if ") or not (line == "" or line.startswith(("from ", "import "))):
            return False
        index -= 1
    return False


def _hidden_imports(tree: ast.AST, lines: list[str]) -> Iterator[tuple[int, str]]:
    """Imports of our own modules inside a function or under TYPE_CHECKING, with no comment on
    the import's line or the line above saying why it is there."""

    def visit(node: ast.AST, hidden: bool) -> Iterator[tuple[int, str]]:
        for child in ast.iter_child_nodes(node):
            inner = hidden or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = True
            if hidden and isinstance(child, ast.Import | ast.ImportFrom):
                names = [child.module or ""] if isinstance(child, ast.ImportFrom) else []
                names += [alias.name for alias in child.names if isinstance(child, ast.Import)]
                said = _commented(lines, child.lineno - 1)
                if any(n.split(".")[0] in PACKAGES for n in names) and not said:
                    yield child.lineno, lines[child.lineno - 1].strip()
            yield from visit(child, inner)

    yield from visit(tree, False)


def test_no_import_of_our_own_hides_in_a_function_without_saying_why() -> None:
    found = []
    for path in _sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in _hidden_imports(ast.parse("\n".join(lines)), lines):
            found.append(f"{path.relative_to(ROOT)}:{number}: {line}")
    assert not found, "imports hidden in functions without a comment:\n" + "\n".join(found)
