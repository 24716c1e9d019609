"""The JVM testee: ``jdk/JsonServer.java`` on the JDK's own ``com.sun.net.httpserver``.

    python -m cannonade.testees.jdk_json [--classes DIR] [--java JAVA] -- [--port P] [--items N]

compiles ``JsonServer.java`` with ``javac`` (once: the classes are kept in ``DIR``, by
default a directory in the system's temporary directory named after the source's
hash), then replaces itself with::

    java -Dsun.net.httpserver.nodelay=true -cp DIR JsonServer --port P ...

so the process cannonade watches is the JVM itself. JVM options go in the
``JDK_JAVA_OPTIONS`` environment variable (``cannonade.Server(..., hotspot_log=True)``
puts its ``-Xlog`` option there when the command does not start with ``java``).

The class is compiled ahead, not run from source (``java JsonServer.java``): the source
launcher runs javac inside the server's JVM, whose JIT would compile javac too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

SOURCE = Path(__file__).resolve().parent / "jdk" / "JsonServer.java"
"""The server's Java source."""

MAIN_CLASS = "JsonServer"

NODELAY = "-Dsun.net.httpserver.nodelay=true"
"""Without it the JDK's server leaves Nagle on: every reply waits ~40 ms for an ACK."""


def compile_classes(classes: Optional[Path] = None, javac: str = "javac") -> Path:
    """Compile :data:`SOURCE` into ``classes`` (unless already there); returns the directory.

    Raises:
        RuntimeError: ``javac`` is missing or failed (its output in the message).
    """
    if classes is None:
        digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
        classes = Path(tempfile.gettempdir()) / f"cannonade-jdk-{digest}"
    if (classes / f"{MAIN_CLASS}.class").is_file():
        return classes
    classes.parent.mkdir(parents=True, exist_ok=True)
    # Compiled beside, then renamed: two servers starting at once never see half a class.
    scratch = Path(tempfile.mkdtemp(prefix=f".{classes.name}-", dir=classes.parent))
    try:
        try:
            done = subprocess.run(
                [javac, "-d", str(scratch), str(SOURCE)], capture_output=True, text=True
            )
        except OSError as error:
            raise RuntimeError(
                f"cannot run {javac}: {error}; install a JDK (Debian: openjdk-17-jdk-headless)"
            ) from None
        if done.returncode != 0:
            raise RuntimeError(f"{javac} failed on {SOURCE}:\n{done.stdout}{done.stderr}")
        try:
            scratch.rename(classes)
        except OSError:
            if not (classes / f"{MAIN_CLASS}.class").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return classes


def command(classes: Path, *args: str, java: str = "java") -> list[str]:
    """The command that runs the compiled server with ``args``."""
    return [java, NODELAY, "-cp", str(classes), MAIN_CLASS, *args]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cannonade.testees.jdk_json",
        epilog="Arguments after -- go to the server: --host H, --port P, --items N.",
        allow_abbrev=False,
    )
    parser.add_argument("--classes", type=Path, help="where the compiled class is kept")
    parser.add_argument("--java", default="java", help="the java launcher (default: java)")
    parser.add_argument("--javac", default="javac", help="the compiler (default: javac)")
    args, rest = parser.parse_known_args(argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    try:
        classes = compile_classes(args.classes, args.javac)
    except RuntimeError as error:
        parser.exit(1, f"error: {error}\n")
    full = command(classes, *rest, java=args.java)
    try:
        os.execvp(full[0], full)
    except OSError as error:
        parser.exit(1, f"error: cannot run {full[0]}: {error}\n")
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
