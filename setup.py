"""Builds the Rust C ABI library (rust/capi) into the package as cannonade/_libcannonade*.so.

Metadata lives in pyproject.toml; this file only adds the Rust extension, so that
both `pip install .` and `pypy3 setup.py install` build it.
"""

from setuptools import setup
from setuptools_rust import Binding, RustExtension

setup(
    rust_extensions=[
        RustExtension(
            "cannonade._libcannonade",
            path="rust/capi/Cargo.toml",
            # A plain C ABI cdylib, opened with cffi's dlopen, never imported.
            binding=Binding.NoBinding,
            py_limited_api=False,
        )
    ],
    # _native.py finds the library next to itself on disk; a zipped egg would hide it.
    zip_safe=False,
)
