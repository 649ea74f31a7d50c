"""server/protocol.py subclasses uvicorn's private HttpToolsProtocol (its docstring says
why nothing public does the job). These tests make an upgrade of uvicorn fail here, loudly
and by name, instead of leaving the bounds on request heads silently broken."""

import inspect
import re
import tomllib
from pathlib import Path

import uvicorn
from uvicorn.protocols.http import httptools_impl

from tagfeed.server.protocol import UVICORN_PRIVATE_NAMES, UVICORN_VERSION

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
HOW = (
    "server/protocol.py relies on uvicorn's private httptools protocol; re-read "
    "uvicorn/protocols/http/httptools_impl.py of the new version against "
    "UVICORN_PRIVATE_NAMES, run tests/e2e/test_hostile_input.py, then update "
    "UVICORN_VERSION and the pin in pyproject.toml together"
)


def test_the_installed_uvicorn_is_the_one_the_protocol_was_read_against() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [
        re.fullmatch(r"uvicorn(\[[a-z,]+\])?==(\S+)", d.split("#")[0].strip()) for d in dependencies
    ]
    pinned = [match.group(2) for match in pins if match]
    assert pinned == [UVICORN_VERSION], f"pyproject.toml pins uvicorn {pinned}: {HOW}"
    assert uvicorn.__version__ == UVICORN_VERSION, (
        f"uvicorn {uvicorn.__version__} is installed: {HOW}"
    )


def test_every_private_name_the_protocol_uses_still_exists() -> None:
    protocol = httptools_impl.HttpToolsProtocol
    missing = [
        name for name in UVICORN_PRIVATE_NAMES["module"] if not hasattr(httptools_impl, name)
    ]
    missing += [
        f"HttpToolsProtocol.{name}"
        for name in UVICORN_PRIVATE_NAMES["HttpToolsProtocol methods"]
        if not callable(getattr(protocol, name, None))
    ]
    # Instance attributes exist only on a running connection: look for their assignment.
    for owner, cls in (
        ("HttpToolsProtocol attributes", protocol),
        ("RequestResponseCycle attributes", httptools_impl.RequestResponseCycle),
    ):
        source = inspect.getsource(cls)
        missing += [
            f"{cls.__name__}.{name}"
            for name in UVICORN_PRIVATE_NAMES[owner]
            if not re.search(rf"self\.{name}\b[^=\n]*=", source)
        ]
    assert missing == [], f"gone from uvicorn {uvicorn.__version__}: {missing}; {HOW}"
