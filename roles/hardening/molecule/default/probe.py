#!/usr/bin/env python3
"""Probe TCP ports and print what a firewall did, as JSON.

    probe.py HOST:PORT [HOST:PORT ...]

open     - connected (something listens, the firewall let it through)
refused  - RST: the firewall let it through, nothing listens
timeout  - no answer: dropped by a firewall
"""

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 3.0


def probe(target):
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"error: {exc}"


if __name__ == "__main__":
    targets = sys.argv[1:]
    with ThreadPoolExecutor(max_workers=len(targets) or 1) as pool:
        print(json.dumps(dict(zip(targets, pool.map(probe, targets), strict=True))))
