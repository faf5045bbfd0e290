"""Every ```python block of the tutorials, the docs home page and the README runs, so no
example goes stale.

The blocks of one file run in order in one namespace (a tutorial builds on its earlier
blocks), in a fresh temporary directory (a block may write a picture), with the default
dtype restored afterwards. A block fails the test with its file and line.
A block preceded by the line `<!-- skip-run -->` is shown but not run (PyTorch code, which
the docs may show side by side without needing torch installed). The `>>>` examples of the
docstrings run too (doctest), so the API reference's examples stay true.
"""

import doctest
import importlib
import io
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_hlcv as tg

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "docs" / "tutorials").glob("*.md")) + [ROOT / "docs" / "index.md"]
FILES += [ROOT / "README.md"]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.M | re.S)
SKIP = "<!-- skip-run -->"


def python_blocks(text):
    """[(line number, code)] of the ```python blocks not marked skip-run."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() != SKIP:
            blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def test_the_block_finder_reads_blocks_in_order_and_honours_skip_run():
    text = "a\n```python\nx = 1\n```\n<!-- skip-run -->\n```python\nimport torch\n```\n"
    text += "```sh\nls\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (13, "y = x + 1\n")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_runs(path, tmp_path, monkeypatch):
    blocks = python_blocks(path.read_text())
    assert blocks, f"{path.name} has no python block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__doc_example__"}
    dtype = tg.get_default_dtype()
    try:
        for line, code in blocks:
            where = f"{path.relative_to(ROOT)}:{line}"
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as err:
                pytest.fail(f"the block at {where} raised {type(err).__name__}: {err}")
    finally:
        tg.set_default_dtype(dtype)


def modules_with_examples():
    """The tinygrad_hlcv modules whose source has a `>>>` example, found by walking the
    package (pkgutil.walk_packages) and reading each module's file, so none is left out.
    A subpackage that fails to import is skipped by the walk; its modules are still found
    from the files below it (and their doctests then fail on importing them)."""
    package = Path(tg.__file__).parent
    names = set()
    for info in pkgutil.walk_packages(tg.__path__, prefix="tinygrad_hlcv.", onerror=lambda _: None):
        names.add(info.name)
    for path in package.rglob("*.py"):  # (what a package that failed to import would hide)
        parts = path.relative_to(package.parent).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    found = []
    for name in sorted(names):
        inner = name.split(".")[1:]
        module = package.joinpath(*inner[:-1], f"{inner[-1]}.py") if inner else None
        path = module if module and module.is_file() else package.joinpath(*inner, "__init__.py")
        if path.is_file() and ">>>" in path.read_text(encoding="utf-8"):
            found.append(".".join(inner) or "tinygrad_hlcv")
    return found


DOCTEST_MODULES = modules_with_examples()


def test_the_example_finder_finds_the_modules_with_examples():
    for name in ("creation", "reference", "nn.layers", "nn.module"):
        assert name in DOCTEST_MODULES
    assert "errors" not in DOCTEST_MODULES  # (a module without `>>>`)


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_the_docstring_examples_run(name):
    """The `>>>` examples of the docstrings (what the API reference shows) give their output."""
    module = importlib.import_module(
        "tinygrad_hlcv" if name == "tinygrad_hlcv" else f"tinygrad_hlcv.{name}"
    )
    extras = {"tg": tg, "np": np, "nn": tg.nn, "Tensor": tg.Tensor}
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    out = io.StringIO()
    dtype = tg.get_default_dtype()
    try:
        tg.set_default_dtype(np.float32)
        tg.manual_seed(0)
        tests = doctest.DocTestFinder().find(module, extraglobs=extras)
        for test in tests:
            runner.run(test, out=out.write)
    finally:
        tg.set_default_dtype(dtype)
    found = sum(len(test.examples) for test in tests)  # (those marked +SKIP too)
    assert found > 0, f"tinygrad_hlcv.{name} has `>>>` but no docstring example"
    assert runner.failures == 0, out.getvalue()
