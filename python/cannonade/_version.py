"""Version numbers, kept apart from the native loader so plain data needs no cffi."""

__version__ = "0.1.0"

#: The C ABI version this package speaks; must equal the library's ``cn_abi_version()``.
ABI_VERSION = 2
