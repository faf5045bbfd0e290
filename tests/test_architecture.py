"""The layering of docs/architecture.md, checked: the core imports nothing above it, the
package loads no application code, and the reverse pass stays on one screen."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinygrad_hlcv"
CORE = [
    "engine",
    "ops",
    "fused",
    "creation",
    "elementwise",
    "reductions",
    "movement",
    "linalg",
    "conv",
    "conv_checks",
    "winograd",
    "kernels",
    "conv_kernels",
    "convert",
    "dtypes",
    "errors",
    "random",
]
ABOVE_THE_CORE = {
    "nn",
    "optim",
    "training",
    "data",
    "gradcheck",
    "testing",
    "reference",
    "viz",
    "sweep",
}


def imported_modules(path, module_level_only=False):
    """The tinygrad_hlcv modules a file imports, as top-level names below the package
    (only those its module body imports, not a function when called, if asked)."""
    found = set()
    tree = ast.parse(path.read_text())
    for node in tree.body if module_level_only else ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinygrad_hlcv"):
            found.add((node.module.split(".") + [""])[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[1] for a in node.names if a.name.startswith("tinygrad_hlcv.")
            )
    return found


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_nothing_above_it(module):
    path = PACKAGE / f"{module}.py"
    assert path.exists(), path
    assert imported_modules(path) & ABOVE_THE_CORE == set()


@pytest.mark.parametrize("module", ["gradcheck", "testing"])
def test_the_checking_tools_need_only_the_core(module):
    assert imported_modules(PACKAGE / f"{module}.py") & {"nn", "optim", "training", "data"} == set()


def test_the_framework_never_imports_the_application():
    """Only `tinygrad_hlcv.fit`, looked up by the package's __getattr__, loads the loop."""
    for path in [
        *PACKAGE.glob("*.py"),
        *(PACKAGE / "nn").glob("*.py"),
        *(PACKAGE / "optim").glob("*.py"),
    ]:
        lazy = path.name == "__init__.py" and path.parent == PACKAGE
        assert imported_modules(path, module_level_only=lazy) & {"training", "data"} == set(), path


def test_importing_the_package_loads_no_application_code():
    code = (
        "import sys, tinygrad_hlcv; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'tqdm') or m.startswith(('tinygrad_hlcv.training', "
        "'tinygrad_hlcv.data'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_reverse_pass_fits_on_one_screen():
    tree = ast.parse((PACKAGE / "engine.py").read_text())
    (run_backward,) = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "run_backward"
    ]
    assert run_backward.end_lineno - run_backward.lineno + 1 <= 20


def test_fit_is_reachable_from_the_package_without_loading_it_on_import():
    code = (
        "import sys, tinygrad_hlcv as tg; assert 'tqdm' not in sys.modules; "
        "from tinygrad_hlcv.training import fit; assert tg.fit is fit; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
