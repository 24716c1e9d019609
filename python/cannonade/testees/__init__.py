"""Reference servers for tests and examples; each is runnable with ``python -m``.

They need the optional ``testees`` extra (Twisted, Tornado); ``jdk_json`` needs a JDK
(it compiles ``jdk/JsonServer.java``). Nothing here is imported by the ``cannonade``
package itself.
"""
