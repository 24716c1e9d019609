"""A bundled testee whose framework is missing says in one line which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Run the testee with its framework hidden (an entry of None in sys.modules makes the
# import fail), whether or not this interpreter has it installed.
HIDE = (
    "import sys, runpy; "
    "[sys.modules.__setitem__(m, None) for m in ('twisted', 'autobahn')]; "
    "sys.argv = ['{module}', '--port', '0']; "
    "runpy.run_module('{module}', run_name='__main__')"
)


@pytest.mark.parametrize(
    "module", ["cannonade.testees.echo", "cannonade.testees.http", "cannonade.testees.ws"]
)
def test_a_testee_without_its_framework_names_the_extra(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HIDE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "cannonade[testees]" in lines[0] and "Traceback" not in proc.stderr
