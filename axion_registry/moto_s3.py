"""A real S3 wire-protocol server on loopback for tests, benches and local clusters: moto's
standalone server (`moto[server]`, a dev requirement) in its own process. No Django here.

    with MotoS3(log=tmp / "moto.log") as s3:
        s3.create_bucket("axion")
        os.environ.update(s3.environment("axion"))
        ...
        s3.requests("GET", "/axion/ranking/1.0.0/model.pkl")  # how many the server answered

The request log is werkzeug's access log (one line per request, no bodies), so counting
downloads costs nothing even for large objects.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ACCESS_KEY = "axion-test"
SECRET_KEY = "axion-test-secret"
REGION = "us-east-1"
_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3})')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoS3:
    """One moto server process; start() may be called again after stop() (same port, empty
    state: moto keeps buckets in memory)."""

    def __init__(self, *, log: Path, port: int | None = None) -> None:
        self.log = log
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, bucket: str) -> dict[str, str]:
        """The variables a process needs to keep its artifacts in `bucket` on this server."""
        return {
            "ARTIFACT_STORAGE_BACKEND": "storages.backends.s3.S3Storage",
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def start(self, timeout: float = 30.0) -> MotoS3:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=handle, stderr=subprocess.STDOUT,
        )
        handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited ({self.process.returncode}); see "
                                   f"{self.log}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} in {timeout:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def create_bucket(self, bucket: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()

    def requests(self, method: str, path_prefix: str = "/") -> int:
        """How many requests with this method and a path starting with the prefix the server
        has answered (query strings included in the path)."""
        count = 0
        for line in self.log.read_text(errors="replace").splitlines():
            match = _REQUEST_LINE.search(line)
            if match and match["method"] == method and match["path"].startswith(path_prefix):
                count += 1
        return count

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
