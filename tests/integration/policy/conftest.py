"""A real OPA server for the policy gate tests, started from the locally built binary.

``start_opa`` is a plain function so that it can move into a shared local-stack module.
The binary is ``$KUBEHEAL_BIN/opa`` (default ``~/.cache/kubeheal/bin/opa``), built by
``hack/build-stack.sh``; without it the tests are skipped with that instruction.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubeheal.policy import PolicyBundle, PolicyGate, read_policy_directory

POLICIES = Path(__file__).parents[3] / "policies"


def opa_binary() -> Path:
    bin_dir = Path(os.environ.get("KUBEHEAL_BIN", Path.home() / ".cache/kubeheal/bin"))
    return bin_dir / "opa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_opa(tmpdir: Path, timeout: float = 30.0) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``opa run --server`` on a free loopback port; return its URL and process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmpdir / f"opa-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(opa_binary()), "run", "--server", f"--addr=127.0.0.1:{port}", "--log-level=error"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if process.poll() is not None:
            raise RuntimeError(
                f"opa exited with {process.returncode}: {(tmpdir / f'opa-{port}.log').read_text()}"
            )
        if time.monotonic() > deadline:
            stop_opa(process)
            raise RuntimeError(f"opa at {url} not healthy after {timeout}s")
        time.sleep(0.05)
    return url, process


def stop_opa(process: subprocess.Popen[bytes]) -> None:
    """Stop OPA, even one a test left stopped with SIGSTOP."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def opa_bin() -> Path:
    """The OPA binary; the test is skipped when it has not been built."""
    if not opa_binary().exists():
        pytest.skip(f"{opa_binary()} missing: run hack/build-stack.sh")
    return opa_binary()


@pytest.fixture
def opa(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A fresh OPA server for one test: its URL and its process."""
    if not opa_binary().exists():
        pytest.skip(f"{opa_binary()} missing: run hack/build-stack.sh")
    url, process = start_opa(tmp_path)
    try:
        yield url, process
    finally:
        stop_opa(process)


@pytest.fixture
def bundle() -> PolicyBundle:
    """The repository's policies and default guardrail configuration."""
    return read_policy_directory(POLICIES)


@pytest.fixture
async def gate(
    opa: tuple[str, subprocess.Popen[bytes]], bundle: PolicyBundle
) -> AsyncIterator[PolicyGate]:
    """A gate with the repository's policies loaded into the test's OPA."""
    async with PolicyGate(opa[0], timeout=2.0) as g:
        await g.load_bundle(bundle)
        yield g
