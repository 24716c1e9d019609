"""Builds the two native backends of the package from the Rust workspace.

- cannonade/_libcannonade*.so: the C ABI library (rust/capi), for the cffi backend.
- cannonade/_pyo3*.so: the PyO3 extension module (rust/py), for the PyO3 backend.

Both are built on every interpreter; python/cannonade/_backend.py picks one at import.
Metadata lives in pyproject.toml; this file only adds the Rust extensions, so that
both `pip install .` and `pypy3 setup.py install` build them.
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools_rust import Binding, RustExtension
except ImportError:
    # `pip install .` installs it by itself (pyproject.toml's build requirements);
    # `python setup.py install` runs this file directly, in the caller's environment.
    sys.exit(
        "cannonade builds its Rust core with setuptools-rust, which is not installed: "
        "run `python -m pip install setuptools-rust wheel` first, then this command again "
        "(or install with `python -m pip install .`, which fetches it by itself)"
    )


def pyo3_build_env() -> dict:
    """The environment for building the PyO3 module for the interpreter running this.

    PyO3's build depends on the interpreter, so each interpreter gets its own target
    directory (target/pyo3-pypy39, target/pyo3-cpython-311): installing into the PyPy
    venv and then the CPython one then reuses both builds instead of rebuilding PyO3
    each time. PYO3_PYTHON is set to this interpreter even if the caller set it.
    """
    env = dict(os.environ)
    target = env.get("CARGO_TARGET_DIR") or str(Path(__file__).resolve().parent / "target")
    env["CARGO_TARGET_DIR"] = os.path.join(target, "pyo3-" + sys.implementation.cache_tag)
    env["PYO3_PYTHON"] = sys.executable
    return env


class BuildPy(build_py):
    """Also emits cannonade/_cffi_abi.py: the C header's declarations in cffi's
    out-of-line ABI form, so that the cffi backend loads without parsing the header at
    every import (python/cannonade/_native.py falls back to parsing it without this)."""

    def run(self) -> None:
        super().run()
        try:
            from cffi import FFI
        except ImportError:
            print("cffi is not installed: cannonade will parse its header at import")
            return
        header = Path(__file__).resolve().parent / "python" / "cannonade" / "cannonade.h"
        ffi = FFI()
        ffi.cdef(header.read_text(encoding="utf-8"))
        ffi.set_source("cannonade._cffi_abi", None)
        out = Path(self.build_lib) / "cannonade" / "_cffi_abi.py"
        out.parent.mkdir(parents=True, exist_ok=True)
        ffi.emit_python_code(str(out))


setup(
    cmdclass={"build_py": BuildPy},
    rust_extensions=[
        RustExtension(
            "cannonade._libcannonade",
            path="rust/capi/Cargo.toml",
            # A plain C ABI cdylib, opened with cffi's dlopen, never imported.
            binding=Binding.NoBinding,
            py_limited_api=False,
        ),
        RustExtension(
            "cannonade._pyo3",
            path="rust/py/Cargo.toml",
            binding=Binding.PyO3,
            # Built for this interpreter's own ABI: PyPy has no stable (abi3) ABI.
            py_limited_api=False,
            env=pyo3_build_env(),
            # cffi works wherever the C ABI builds; if PyO3 cannot build for this
            # interpreter (one newer than PyO3 0.26 knows, say), install without it, with
            # setuptools-rust's warning: import then falls back to cffi and warns again.
            optional=True,
        ),
    ],
    # _native.py finds the library next to itself on disk; a zipped egg would hide it.
    zip_safe=False,
)
