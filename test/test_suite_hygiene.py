"""Rules of the test suite itself, checked on the source of every test module (and the bench modules tests import):

* ../shared (real data, rosdep snapshot) is reached only through test/conftest.py's fixtures (``shared_data``,
  ``shared_rosdistro``), which skip without it, so a fresh clone without ../shared passes (CI=true fails instead);
* ``time.sleep`` appears only in test/waiting.py (waiting on conditions with deadlines, pacing, deliberate quiet
  stretches) and in the stand-ins for slow estimators listed below with the reason: no test waits a fixed time
  for something to happen.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

TEST_DIR = Path(__file__).resolve().parent
ROOT = TEST_DIR.parent

# (file name in test/, qualified function name) -> why a time.sleep is right there
ALLOWED_SLEEPS = {
    ("waiting.py", "wait_until"): "the one polling helper: a short sleep between checks of a condition, "
                                  "against a deadline, failing with what was awaited",
    ("waiting.py", "repeat_until"): "the same polling, repeating an action (a publish) until a condition holds",
    ("waiting.py", "Pacer.wait"): "paces publishing at a sensor's rate, for tests whose assertions do not depend "
                                  "on the exact spacing",
    ("waiting.py", "quiet_for"): "a stretch with no input that the scenario needs (a paused robot), not a wait "
                                 "for something",
    ("test_rate_governor_node.py", "LevelTimedEstimator._estimate"):
        "a stand-in for a slow model: its time per resolution level is what the rate governor reacts to",
    ("test_multi_camera_node.py", "BatchRecorder.estimate_batch"):
        "a stand-in for a slow model: while a batch runs, the cameras' next sets queue up together",
}


def _python_files() -> list[Path]:
    return sorted(p for p in TEST_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def _bench_modules_imported_by_tests() -> list[Path]:
    """bench/*.py modules that a test module imports (``from bench.x import ...``, ``import bench.x``)."""
    found = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "bench" and len(parts) > 1 and (ROOT / "bench" / f"{parts[1]}.py").is_file():
                    found.add(ROOT / "bench" / f"{parts[1]}.py")
    return sorted(found)


# ------------------------------------------------------------------------------------------- ../shared
def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings or other bare string statements (prose, not paths)."""
    return {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)}


def shared_path_uses(source: str, filename: str = "<source>") -> list[str]:
    """Places in ``source`` that build a path to ../shared or import it from conftest: ``line: what``.

    Caught: a string with a path component ``shared`` (``"shared"``, ``"../shared/data"``, an f-string's
    ``/../shared/``) anywhere but in a docstring, and any import of conftest (``SHARED_DATA``,
    ``require_shared``): tests get ../shared only as the ``shared_data`` / ``shared_rosdistro`` fixtures.
    """
    tree = ast.parse(source, filename)
    prose = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if "shared" in re.split(r"[/\\]", node.value):
                found.append(f"{node.lineno}: path component 'shared' in {node.value!r}")
        elif isinstance(node, ast.ImportFrom) and node.module == "conftest":
            found.append(f"{node.lineno}: from conftest import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names):
            found.append(f"{node.lineno}: import conftest")
        elif isinstance(node, ast.Name) and node.id == "SHARED_DATA":
            found.append(f"{node.lineno}: SHARED_DATA")
    return sorted(set(found), key=lambda text: int(text.split(":")[0]))


@pytest.mark.parametrize("snippet", [
    'DATA = Path(__file__).resolve().parents[2] / "shared" / "data"',
    'NYU = "../shared/data/nyu"',
    'DATA = REPO_ROOT.parent / "shared"',
    'DATA = os.path.join(ROOT, "..", "shared", "data")',
    'DATA = Path(f"{ROOT}/../shared/data")',
    'DATA = ROOT.parent.joinpath("shared/data")',
    "from conftest import SHARED_DATA",
    "from conftest import require_shared",
    "import conftest\nDATA = conftest.SHARED_DATA",
    "@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason='x')\ndef test_x(): pass",
])
def test_the_shared_path_check_catches(snippet: str) -> None:
    assert shared_path_uses(snippet), snippet


def test_the_shared_path_check_allows_the_fixtures_and_prose() -> None:
    source = textwrap.dedent('''
        """Frames from ../shared/data (through the shared_data fixture)."""
        def test_x(shared_data, shared_rosdistro):
            """Reads ../shared/data/nyu."""
            image = shared_data / "nyu" / "rgb_00000.jpg"  # ../shared/data
            assert "shared memory" in "a shared memory segment" and "shared_data" != "shared.yaml"
    ''')
    assert shared_path_uses(source) == []


def test_tests_reach_shared_only_through_the_conftest_fixtures() -> None:
    files = [p for p in _python_files() if p.name not in ("conftest.py", Path(__file__).name)] + \
        _bench_modules_imported_by_tests()  # (this file's own examples are strings of forbidden code)
    offenders = {str(p.relative_to(ROOT)): uses for p in files if (uses := shared_path_uses(p.read_text(), str(p)))}
    assert not offenders, (
        "these files build a path to ../shared themselves; take the shared_data (or shared_rosdistro) fixture "
        f"of test/conftest.py instead, which skips without ../shared (and fails under CI=true): {offenders}")


# ------------------------------------------------------------------------------------------- time.sleep
def sleep_calls(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, qualified name of the enclosing function or "<module>") of every call of ``time.sleep`` in
    ``source``, however imported (``import time as t``, ``from time import sleep as pause``)."""
    tree = ast.parse(source, filename)
    modules, functions = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "time"}
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            functions |= {a.asname or a.name for a in node.names if a.name == "sleep"}
    calls: list[tuple[int, str]] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = scope + [node.name]
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "sleep" and isinstance(func.value, ast.Name)
                    and func.value.id in modules) or (isinstance(func, ast.Name) and func.id in functions):
                calls.append((node.lineno, ".".join(scope) or "<module>"))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, [])
    return calls


def test_the_sleep_check_finds_every_spelling() -> None:
    source = textwrap.dedent('''
        import time
        import time as clock
        from time import sleep as pause
        time.sleep(1)
        class Feeder:
            def feed(self):
                clock.sleep(0.1)
                def inner():
                    pause(0.2)
        def test_x():
            loop.sleep(3)  # not the time module
    ''')
    assert sleep_calls(source) == [(5, "<module>"), (8, "Feeder.feed"), (10, "Feeder.feed.inner")]


def test_time_sleep_only_in_the_waiting_helpers_and_slow_estimator_stand_ins() -> None:
    found = [((path.name, scope), f"{path.relative_to(ROOT)}:{line} in {scope}") for path in _python_files()
             for line, scope in sleep_calls(path.read_text(), str(path))]
    unexpected = [where for key, where in found if key not in ALLOWED_SLEEPS]
    assert not unexpected, (
        "time.sleep outside test/waiting.py: wait on a condition with a deadline (waiting.wait_until, "
        "Recorder.wait, repeat_until), or pace with waiting.Pacer; a new stand-in for slow work goes into "
        f"ALLOWED_SLEEPS with its reason: {unexpected}")
    used = {key for key, _ in found}
    stale = sorted(f"{name}::{scope}" for name, scope in ALLOWED_SLEEPS if (name, scope) not in used)
    assert not stale, f"ALLOWED_SLEEPS lists functions that no longer sleep (remove them): {stale}"
