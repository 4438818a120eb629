"""The container runner: each run is one container on a Docker engine.

Every container qrun starts carries labels (job id, run id, attempt, deadline), so a
worker that restarts finds it again by label and adopts it (R-A7) instead of starting
another. Inputs go in and output comes out through the engine's archive API, so the
runner works with a remote engine as well as a local one: a container writes its result
as JSON to `$QRUN_OUTPUT_DIR/result.json` (/qrun/out); after it ends the whole folder is
copied out, extracted safely (`archive.extract`) into the run's artifact folder, and the
container is removed.

An engine that cannot be reached or an image it does not have is `RunnerUnavailable`: a
transient failure (R-C8) that requeues the job without spending an attempt.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.ports import Adopted, Exit, Gone, RunnerUnavailable

from ..runners.subprocess_runner import segment
from ..storage.fs import FsInputStore
from ..storage.private import private_dir, write_private
from .archive import DEFAULT_MAX_BYTES, UnsafeArchive, extract
from .records import ExitRecords
from .spec import ContainerSpec

NAME = "docker"
OUT_DIR = "/qrun/out"
INPUTS_DIR = "/qrun/inputs"
LABEL = "io.qrun"
_POLL_S = 0.1
log = logging.getLogger("qrun.docker")


def _docker() -> Any:
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the extra is missing
        raise RunnerUnavailable(
            "the container runner needs the docker SDK: pip install 'qrun[docker]'"
        ) from None
    return docker


class ContainerRunner:
    name = NAME

    def __init__(
        self,
        runs_dir: str | Path,
        *,
        base_url: str | None = None,
        inputs: FsInputStore | None = None,
        max_output_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runs_dir = private_dir(Path(runs_dir).resolve())
        self.base_url, self.inputs = base_url, inputs
        self.max_output_bytes = max_output_bytes
        self._clock = clock
        self._client: Any = None
        self._finished: dict[str, Path] = {}  # container id -> artifacts, for `output`
        self.records = ExitRecords(self.runs_dir)

    # -- the port ---------------------------------------------------------------------------
    def spawn(self, job: Job, run: Run) -> Handle:
        spec = ContainerSpec.from_payload(job.payload)
        docker = _docker()
        client = self._engine()
        deadline = self._clock() + spec.timeout_s if spec.timeout_s else None
        labels = {
            f"{LABEL}.managed": "1",
            f"{LABEL}.job": job.id,
            f"{LABEL}.run": run.id,
            f"{LABEL}.attempt": str(job.attempts),
            f"{LABEL}.deadline": f"{deadline:.3f}" if deadline else "",
        }
        try:
            container = client.containers.create(
                spec.image,
                command=list(spec.argv) if spec.argv is not None else None,
                labels=labels,
                environment={
                    **spec.env,
                    "QRUN_OUTPUT_DIR": OUT_DIR,
                    "QRUN_INPUTS_DIR": INPUTS_DIR,
                    "QRUN_JOB_ID": job.id,
                },
                working_dir=spec.workdir,
                mem_limit=spec.memory,
                nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
                network_mode=spec.network,
                detach=True,
            )
        except docker.errors.ImageNotFound:
            raise RunnerUnavailable(
                f"image {spec.image!r} is not on the docker engine; build, load or pull it there"
            ) from None
        except docker.errors.DockerException as exc:
            raise RunnerUnavailable(f"docker engine refused to create the container: {exc}") from None
        try:
            container.put_archive("/", self._inputs_tar(job.id))
            container.start()
        except BaseException:
            self._remove(container)
            raise
        return Handle(NAME, container.id)

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        """R-A7: find the run's container by label. None: nothing to adopt. Still
        `created` (its worker died before starting it): removed, nothing to adopt.
        Anything else is watched by `wait` like a fresh spawn, which archives a finished
        one's output and kills one past its deadline."""
        client = self._engine()
        found = client.containers.list(
            all=True, filters={"label": [f"{LABEL}.job={job.id}", f"{LABEL}.run={run.id}"]}
        )
        if not found:
            # Collected (and removed) by a worker that died before writing the end down:
            # its recorded exit is the run's.
            kept = self.records.of_run(self.artifacts(job.id, run.id))
            return Adopted(Handle(NAME, kept[0])) if kept is not None else Gone()
        container = found[0]
        for extra in found[1:]:  # cannot happen (one spawn per run id); never leave strays
            self._remove(extra)
        if container.status == "created":
            self._remove(container)
            return Gone()
        return Adopted(Handle(NAME, container.id))

    def observe(self, handle: Handle) -> Liveness:
        docker = _docker()
        try:
            container = self._engine().containers.get(handle.ref)
        except docker.errors.NotFound:
            return Liveness.DEAD  # removed: its exit, if it was collected, is recorded
        except Exception:  # the engine does not answer: we cannot tell
            return Liveness.UNKNOWN
        if container.status in ("running", "restarting", "paused"):
            return Liveness.ALIVE
        if container.status in ("exited", "dead"):
            # Ended, its exit code and output kept by the engine until a worker collects
            # them (its holder now, or an adopter if the holder died): finalizing, not dead
            # (R-B5). Reaping it here raced a worker copying its output and ran it twice.
            return Liveness.UNKNOWN
        return Liveness.DEAD  # "created" or "removing": it never ran, or is going away

    def exit_code(self, handle: Handle) -> int | None:
        """The code of an exited container, without collecting it (see the reaper)."""
        docker = _docker()
        try:
            container = self._engine().containers.get(handle.ref)
        except docker.errors.NotFound:
            kept = self.records.of_container(handle.ref)
            return kept.code if kept is not None else None
        except RunnerUnavailable:
            return None
        except Exception:  # the engine does not answer: nothing to say yet
            return None
        if container.status not in ("exited", "dead"):
            return None
        return int(container.attrs.get("State", {}).get("ExitCode", -1))

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        docker = _docker()
        end = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                container = self._engine().containers.get(handle.ref)
            except docker.errors.NotFound:
                kept = self.records.of_container(handle.ref)
                if kept is not None:  # collected before, by this worker or a dead one
                    return kept
                return Exit(code=-1, error=f"container {handle.ref[:12]} is gone (removed outside qrun)")
            except Exception as exc:  # engine down: the run may well be alive; ask again later
                log.warning("docker engine unreachable while watching %s: %s", handle.ref[:12], exc)
                return None
            if container.status in ("exited", "dead"):
                return self._finish(container, timed_out=False)
            if self._past_deadline(container):
                container.kill()
                container.wait(timeout=30)
                container.reload()
                return self._finish(container, timed_out=True)
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(_POLL_S)

    def kill(self, handle: Handle) -> None:
        docker = _docker()
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # gone, or not running
            self._engine().containers.get(handle.ref).kill()

    def output(self, handle: Handle) -> tuple[bytes, bytes]:
        """The logs of a run this runner finished (stdout and stderr, interleaved)."""
        where = self._finished.get(handle.ref)
        logs = where / "logs" if where else None
        return (logs.read_bytes() if logs and logs.exists() else b""), b""

    def logs(self, job_id: str, run: Run) -> tuple[bytes, bytes]:
        """What a finished run's container wrote (stdout and stderr, interleaved)."""
        path = self.artifacts(job_id, run.id) / "logs"
        return (path.read_bytes() if path.exists() else b""), b""

    # -- artifacts --------------------------------------------------------------------------
    def artifacts(self, job_id: str, run_id: str) -> Path:
        """The run's folder: `out/` (what the container wrote in /qrun/out) and `logs`."""
        return self.runs_dir / ("c" + segment(job_id)[1:]) / segment(run_id)

    def _finish(self, container: Any, *, timed_out: bool) -> Exit:
        labels = container.labels
        where = self.artifacts(
            labels.get(f"{LABEL}.job", "unknown"), labels.get(f"{LABEL}.run", container.id)
        )
        private_dir(where)
        self._finished[container.id] = where
        name = f"container {container.id[:12]} (job {labels.get(f'{LABEL}.job')})"
        try:
            write_private(where / "logs", container.logs(stdout=True, stderr=True))
            stream, _ = container.get_archive(OUT_DIR)
            extract(stream, where / "out", strip="out", max_bytes=self.max_output_bytes)
            problem = None
        except UnsafeArchive as exc:
            problem = f"{name}: its output was refused: {exc}"
        except Exception as exc:  # no /qrun/out at all, or the engine failed mid-copy
            problem = f"{name}: could not copy its output: {exc}"
        done = self._outcome(container, where, name, timed_out=timed_out, problem=problem)
        try:
            self.records.save(container.id, where, done)
        except OSError as exc:  # kept, unrecorded: an adopter collects it again
            log.warning("could not record the exit of %s, so it is not removed: %s", name, exc)
        else:
            self._remove(container)
        return done

    def _outcome(
        self, container: Any, where: Path, name: str, *, timed_out: bool, problem: str | None
    ) -> Exit:
        code = int(container.attrs.get("State", {}).get("ExitCode", -1))
        if timed_out:
            return Exit(code=124, error=f"{name} timed out and was killed; its output is in {where}")
        if problem is not None:
            return Exit(code=code or 1, error=problem)
        if code != 0:
            return Exit(code=code, error=f"{name} exited with code {code}; logs in {where / 'logs'}")
        return self._result(where / "out" / "result.json", name)

    @staticmethod
    def _result(path: Path, name: str) -> Exit:
        if not path.exists():
            return Exit(code=1, error=f"{name} exited 0 but wrote no {OUT_DIR}/result.json")
        try:
            result = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            return Exit(code=1, error=f"{name} wrote a malformed {OUT_DIR}/result.json: {exc}")
        return Exit(code=0, result=result)

    # -- helpers ----------------------------------------------------------------------------
    def _engine(self) -> Any:
        if self._client is None:
            docker = _docker()
            try:
                self._client = (
                    docker.DockerClient(base_url=self.base_url) if self.base_url else docker.from_env()
                )
                self._client.ping()
            except Exception as exc:
                self._client = None
                where = self.base_url or "DOCKER_HOST or the default socket"
                raise RunnerUnavailable(f"docker engine unreachable at {where}: {exc}") from None
        return self._client

    def _past_deadline(self, container: Any) -> bool:
        raw = container.labels.get(f"{LABEL}.deadline")
        return bool(raw) and self._clock() >= float(raw)

    def _inputs_tar(self, job_id: str) -> bytes:
        """/qrun/out (empty) and /qrun/inputs with the job's stored inputs (R-A8)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for folder in ("qrun", "qrun/out", "qrun/inputs"):
                info = tarfile.TarInfo(folder)
                info.type, info.mode = tarfile.DIRTYPE, 0o777
                tar.addfile(info)
            names = self.inputs.names(job_id) if self.inputs else []
            for input_name in names:
                data = self.inputs.get(job_id, input_name) if self.inputs else b""
                info = tarfile.TarInfo(f"qrun/inputs/{input_name}")
                info.size, info.mode = len(data), 0o444
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    @staticmethod
    def _remove(container: Any) -> None:
        try:
            container.remove(force=True)
        except Exception as exc:  # already gone, or the engine is down: log, never raise
            log.info("could not remove container %s: %s", getattr(container, "id", "?")[:12], exc)
