"""The architecture as a test: every module imports on its own (no import cycles), the domain stays free
of adapters and I/O, and import-linter's contracts hold."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import townhall

SRC = Path(townhall.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(SRC)], prefix="townhall.") if ".migrations" not in m.name)


def _import_alone(module: str) -> tuple[str, int, str]:
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    return module, proc.returncode, proc.stderr[-600:]


@pytest.mark.timeout(600)  # some 120 interpreters: minutes on a loaded two-core machine
def test_every_module_imports_alone() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [r for r in pool.map(_import_alone, MODULES) if r[1] != 0]
    assert not failures, "\n".join(f"{m}: {err}" for m, _, err in failures)


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
