"""``python -m kubeheal.demo``: serve the simulated metrics of demo Deployments.

Example::

    python -m kubeheal.demo --kubeconfig .stack/kubeconfig --namespace shop --port 9100

then point Prometheus at ``127.0.0.1:9100``. Stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from kubeheal.demo.model import Simulation
from kubeheal.demo.service import Poller, demo_registry


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kubeheal.demo",
        description=(
            'Simulate the Deployments labelled kubeheal.io/demo="true" and serve their '
            "metrics for Prometheus on /metrics."
        ),
    )
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    parser.add_argument("--namespace", action="append", required=True,
                        help="namespace to watch (repeat for several)")
    parser.add_argument("--port", type=int, default=9100, help="port of /metrics")
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between two polls of the API server")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    import urllib3
    from kubernetes import config
    from prometheus_client import start_http_server

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    api_client = config.new_client_from_config(config_file=args.kubeconfig)
    simulation = Simulation(seed=args.seed)
    lock = threading.Lock()
    poller = Poller(api_client, args.namespace, simulation, lock)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    poller.poll_once()  # serve real pods from the first scrape on
    server, _ = start_http_server(args.port, addr=args.listen,
                                  registry=demo_registry(simulation, lock))
    logging.info("serving demo metrics on http://%s:%d/metrics for namespaces %s",
                 args.listen, args.port, ", ".join(args.namespace))
    try:
        poller.run(stop, args.interval)
    finally:
        server.shutdown()
        api_client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
