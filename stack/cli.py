"""`traffic-stack`: start, stop and inspect the local Kafka, Redis and Flink services."""

from __future__ import annotations

import argparse
import sys

from stack.services import SERVICES, StackError
from stack.topics import ensure_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="traffic-stack",
        description="Local services on 127.0.0.1: Kafka (KRaft) :9092, Redis :6390, "
        "Flink session cluster (web UI/REST) :8081. State and logs live in .stack/.",
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help=f"any of {', '.join(SERVICES)} (default: all, started in that order)",
    )
    parser.add_argument("--timeout", type=float, default=90, help="health-check timeout, s")
    args = parser.parse_args(argv)
    names = args.services or list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        parser.error(f"unknown service(s) {unknown}; choose from {list(SERVICES)}")
    if args.action == "stop":
        names = list(reversed(names))
    try:
        for name in names:
            service = SERVICES[name]()
            if args.action == "start":
                print(service.start(args.timeout), flush=True)
                if name == "kafka":
                    created = ensure_topics()
                    if created:
                        print(f"kafka: created topics {', '.join(created)}", flush=True)
            elif args.action == "stop":
                print(service.stop(), flush=True)
            else:
                print(service.status(), flush=True)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
