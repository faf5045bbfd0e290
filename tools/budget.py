"""The size budget CI enforces (as tinygrad's line-count job and teenygrad's sz.py do).

    python tools/budget.py

Prints the core's code lines per file and in total against CORE_LIMIT, and fails (exit 1,
naming what violated) if the core is over it or any function of the package is longer than
FUNCTION_LIMIT lines. Why these numbers: docs/testing.md.

Code lines: lines holding a token other than a comment, minus the lines of docstrings (the
first string statement of a module, class or function).
A function's length: its `def` line to its last line (decorators not counted), minus the
lines of its own docstring; blank lines and comments inside it count.
"""

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tinygrad_hlcv"
# The core is every module at the package's top level but these (the framework's helpers and
# what only optim uses); nn/, optim/, training/ and data/ are not core. A new core module counts
# without listing it.
NOT_CORE = (
    "__init__.py",
    "gradcheck.py",
    "optim_kernels.py",
    "reference.py",
    "testing.py",
    "viz.py",
)
CORE_LIMIT = 5200  # code lines of the core, as ruff formats them
FUNCTION_LIMIT = 40  # lines of any function in the package, its docstring not counted
_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_lines(node: ast.AST) -> set[int]:
    """The line numbers of `node`'s docstring (empty if it has none)."""
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr):
        return set()
    value = body[0].value
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return set()
    return set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))


def code_lines(source: str) -> int:
    """Non-blank, non-comment, non-docstring lines of a Python source."""
    tree = ast.parse(source)
    docs = set().union(*(docstring_lines(n) for n in ast.walk(tree) if isinstance(n, _SCOPES)))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docs)


def long_functions(path: Path, limit: int = FUNCTION_LIMIT) -> list[str]:
    """'file:line name is N lines (limit L)' for each function in `path` over `limit` lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            span = (node.end_lineno or node.lineno) - node.lineno + 1
            length = span - len(docstring_lines(node))
            if length > limit:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append(f"{where} {node.name} is {length} lines (limit {limit})")
    return found


def main() -> int:
    """Print the budget; return 1 if anything is over it."""
    core = sorted(path for path in PACKAGE.glob("*.py") if path.name not in NOT_CORE)
    counts = {path.name: code_lines(path.read_text(encoding="utf-8")) for path in core}
    width = max(map(len, counts))
    for name, count in counts.items():
        print(f"{name:<{width}} {count:5d}")
    total = sum(counts.values())
    print(f"{'core total':<{width}} {total:5d} of {CORE_LIMIT} code lines")
    violations = []
    if total > CORE_LIMIT:
        violations.append(f"the core is {total} code lines, over its limit of {CORE_LIMIT}")
    for path in sorted(PACKAGE.rglob("*.py")):
        violations += long_functions(path)
    for violation in violations:
        print(f"budget violation: {violation}", file=sys.stderr)
    if not violations:
        print(f"no function is over {FUNCTION_LIMIT} lines")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
