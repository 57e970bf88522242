"""The architecture as a test: every module imports on its own (no import cycles), the domain stays free
of adapters and I/O, and import-linter's contracts hold."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import townhall

SRC = Path(townhall.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(SRC)], prefix="townhall.") if ".migrations" not in m.name)


# One interpreter imports every module in turn, each time with the project's modules forgotten first, so a
# module that only imports inside a cycle fails exactly as it would alone; the third-party libraries stay
# loaded (aiortc, av, SQLAlchemy), which makes it seconds instead of minutes of fresh interpreters.
ALONE = """
import importlib, sys, traceback
failures = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "townhall" or m.startswith("townhall.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures.append(name + ": " + traceback.format_exc()[-600:])
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def test_every_module_imports_alone() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", ALONE, *MODULES], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


FORBIDDEN_IN_DOMAIN = {
    "asyncio",
    "time",
    "datetime.datetime.now",
    "os",
    "socket",
    "sqlalchemy",
    "redis",
    "httpx",
    "starlette",
    "aiortc",
    "av",
    "random",
    "secrets",
    "subprocess",
    "pathlib",
}


@pytest.mark.parametrize(
    "path", sorted((SRC / "domain").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC / "domain"))
)
def test_domain_does_no_io_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN_IN_DOMAIN, f"{path} imports {imported & FORBIDDEN_IN_DOMAIN}"
    assert "open(" not in path.read_text()


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(linter)], capture_output=True, text=True, timeout=120, cwd=SRC.parents[1])
    assert proc.returncode == 0, proc.stdout[-2000:]
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", proc.stdout)
    assert kept is not None and int(kept[1]) >= 9, proc.stdout[-2000:]  # none quietly dropped
