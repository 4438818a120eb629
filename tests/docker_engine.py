"""A real Docker engine for the container runner's tests (../shared/CONTAINERS.md).

Uses the user's engine where one answers (DOCKER_HOST or the default socket); otherwise
starts a private dockerd (vfs storage, no networking) in a temporary folder. The test
image is built with no registry: a root filesystem holding busybox-static, imported."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

IMAGE = "qrun-test/busybox:1"
APPLETS = ("sh", "echo", "sleep", "cat", "true", "false", "ls", "mkdir", "ln", "rm", "printf", "mknod", "dd")


class EngineUnavailable(RuntimeError):
    pass


def answers(base_url: str | None) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
        client.close()
        return True
    except Exception:
        return False


class PrivateEngine:
    def __init__(self, root: Path, *extra: str) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        self.base_url = f"unix://{self.sock}"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineUnavailable("no dockerd: apt-get install -y docker.io busybox-static")
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - lives as long as the engine
        self.proc = subprocess.Popen(
            [
                dockerd,
                "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"),
                "-H", self.base_url,
                "--pidfile", str(self.root / "docker.pid"),
                "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                "--storage-driver=vfs",
                *self.extra,
            ],
            stdout=log,
            stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while not answers(self.base_url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "dockerd.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise EngineUnavailable(f"dockerd did not answer on {self.sock}:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def build_image(base_url: str | None) -> str:
    """The busybox test image, imported from a root filesystem (no registry needed)."""
    import docker

    client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
    try:
        client.images.get(IMAGE)
        return IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise EngineUnavailable("no busybox: apt-get install -y busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for folder in ("tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    repository, tag = IMAGE.split(":")
    client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    client.close()
    return IMAGE
