"""Architecture rules that are checkable: the domain imports only the standard library,
and importing the package needs no environment and touches no database."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tagfeed.domain

DOMAIN_DIR = Path(tagfeed.domain.__file__).parent
DOMAIN_PACKAGE = "tagfeed.domain"


def imported_modules(source: str, package: str = DOMAIN_PACKAGE) -> set[str]:
    """Absolute names of every module ``source`` imports (relative imports resolved
    against ``package``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
            else:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{parent}.{node.module}" if node.module else parent)
    return names


def is_allowed_in_domain(module: str) -> bool:
    top = module.partition(".")[0]
    if top == "tagfeed":
        return module == DOMAIN_PACKAGE or module.startswith(DOMAIN_PACKAGE + ".")
    return top in sys.stdlib_module_names


def domain_imports() -> dict[str, set[str]]:
    return {
        path.name: imported_modules(path.read_text(encoding="utf-8"))
        for path in sorted(DOMAIN_DIR.glob("*.py"))
    }


def test_the_domain_imports_only_the_standard_library() -> None:
    imports = domain_imports()
    assert {"model.py", "tags.py", "timerange.py", "pagination.py"} <= set(imports)
    offending = {
        name: sorted(m for m in modules if not is_allowed_in_domain(m))
        for name, modules in imports.items()
    }
    assert {name: bad for name, bad in offending.items() if bad} == {}


def test_the_import_check_sees_what_it_should() -> None:
    # Guards against a check that passes because it finds nothing.
    everything = set().union(*domain_imports().values())
    assert {"unicodedata", "uuid", "tagfeed.domain.errors"} <= everything


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("import re, uuid", True),
        ("from datetime import UTC", True),
        ("from tagfeed.domain.errors import InvalidInput", True),
        ("from . import errors", True),
        ("from .errors import InvalidInput", True),
        ("import msgspec", False),
        ("from starlette.requests import Request", False),
        ("import tagfeed.store.port", False),
        ("from tagfeed.api import schemas", False),
        ("from ..store import port", False),
        ("def f() -> None:\n    import sqlite3\n    from pydantic import BaseModel", False),
    ],
)
def test_the_import_check_flags_outsiders(source: str, allowed: bool) -> None:
    assert all(map(is_allowed_in_domain, imported_modules(source))) is allowed


def package_imports(package: str) -> dict[str, set[str]]:
    directory = DOMAIN_DIR.parent / package
    return {
        path.name: imported_modules(path.read_text(encoding="utf-8"), f"tagfeed.{package}")
        for path in sorted(directory.glob("*.py"))
    }


def test_reducers_import_only_the_standard_library_and_the_domain() -> None:
    """A reducer is a pure fold: no SQL, no driver, no store."""
    imports = package_imports("reducers")
    assert {"messages.py", "counts.py", "tags.py"} <= set(imports)
    offending = {
        name: sorted(m for m in modules if not is_allowed_in_domain(m) and m != "tagfeed.reducers")
        for name, modules in imports.items()
    }
    assert {name: bad for name, bad in offending.items() if bad} == {}


def test_bulk_talks_to_the_storage_port_not_to_the_adapters() -> None:
    allowed = {"tagfeed.store.port", "tagfeed.store.factory", "tagfeed.store.errors"}
    store_imports = {
        name: sorted(m for m in modules if m.startswith("tagfeed.store") and m not in allowed)
        for name, modules in package_imports("bulk").items()
    }
    assert any("tagfeed.store.port" in m for m in package_imports("bulk").values())
    assert {name: bad for name, bad in store_imports.items() if bad} == {}


# Layers that must not import the ones above them: the store and auth are used by the
# API, the relay and the commands, and read the settings they need through their own
# parameters (``store.factory.StoreSettings``), never ``tagfeed.config``.
_ABOVE = ("tagfeed.api", "tagfeed.config", "tagfeed.relay", "tagfeed.service", "tagfeed.cli")


def reaches_above(module: str) -> bool:
    return any(module == top or module.startswith(top + ".") for top in _ABOVE)


@pytest.mark.parametrize("package", ["store", "auth"])
def test_lower_layers_import_nothing_above_them(package: str) -> None:
    imports = package_imports(package)
    assert imports, f"no modules read in {package}"
    offending = {
        name: sorted(m for m in modules if reaches_above(m)) for name, modules in imports.items()
    }
    assert {name: bad for name, bad in offending.items() if bad} == {}


def test_the_layer_check_flags_an_upward_import() -> None:
    assert reaches_above("tagfeed.config")
    assert reaches_above("tagfeed.api.headers")
    assert not reaches_above("tagfeed.headers")
    assert not reaches_above("tagfeed.store.port")


DATABASE_SUFFIXES = (".db", ".db-journal", ".db-wal", ".db-shm", ".sqlite", ".sqlite3")

# Records, from inside the child, every file opened and every connection attempted.
IMPORT_PROBE = """
import json, sys
events = []
def hook(event, args):
    if event in ("open", "sqlite3.connect", "socket.connect"):
        events.append([event, str(args[0])])
sys.addaudithook(hook)
import tagfeed, tagfeed.api.app, tagfeed.cli
print(json.dumps(events))
"""


def test_importing_the_package_needs_no_environment_and_opens_no_database(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events: list[list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    assert any(event == "open" for event, _ in events), "the audit hook saw no imports"
    assert [e for e in events if e[0] != "open"] == []
    opened = [Path(path).name for event, path in events if event == "open"]
    assert [name for name in opened if name.endswith(DATABASE_SUFFIXES)] == []
    assert list(tmp_path.iterdir()) == []
