"""The command line every client in bench/pyclients takes (bench/echo_clients.py starts
them): HOST PORT CONNECTIONS DURATION_S [--bytes N], and what each prints at the end."""

import argparse
import json


def parse(description, *extra):
    """The clients' arguments; ``extra`` are (flag, keyword arguments) pairs."""
    p = argparse.ArgumentParser(description=description.split("\n\n")[0])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("connections", type=int)
    p.add_argument("duration", type=float)
    p.add_argument("--bytes", type=int, default=64)
    for flag, options in extra:
        p.add_argument(flag, **options)
    return p.parse_args()


def report(messages, elapsed_s):
    """The one line bench/echo_clients.py reads: round trips done and over how long."""
    print(json.dumps({"messages": messages, "duration_s": elapsed_s}))
