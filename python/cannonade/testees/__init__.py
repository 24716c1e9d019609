"""Reference servers for tests and examples; each is runnable with ``python -m``.

They need the optional ``testees`` extra (Twisted); nothing here is imported by
the ``cannonade`` package itself.
"""
