"""The storage backends: one contract, run against a local folder and two S3 servers (SeaweedFS and moto)."""

from __future__ import annotations

import hashlib
import pickle
import threading
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest

from segdb.arrays import ArrayFileExistsError, PlaneArrays, io_stats, reset_io_stats, sha256_file, write_chunk_file
from segdb.arrays import stores as stores_module
from segdb.arrays.stores import LocalStore, S3Store, Store
from segdb.errors import IntegrityError, InvalidInputError, NotFoundError, StorageUnavailableError
from segdb.geometry import CsrMasks

ESCAPING_KEYS = ["../outside.h5", "a/../../outside.h5", "/etc/passwd", "s3://other-bucket/x.h5", "", "C:/x.h5", "a\\..\\b"]


def _anonymous_bytes() -> int:
    """This process's resident anonymous memory (heap, not mapped files), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("/proc/self/status has no RssAnon line")


def random_file(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


class StoreContract:
    """What every backend promises. A subclass provides the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError

    def test_put_new_returns_the_size_and_sha256_of_the_bytes_sent(self, store: Store, tmp_path: Path) -> None:
        source = random_file(tmp_path / "src.bin", 300_000, seed=1)
        stored = store.put_new("seg_1/plane_0.h5", source)
        assert (stored.relative_path, stored.size_bytes, stored.sha256) == (
            "seg_1/plane_0.h5", 300_000, sha256_file(source))
        assert store.exists("seg_1/plane_0.h5") and store.size("seg_1/plane_0.h5") == 300_000
        assert store.sha256("seg_1/plane_0.h5") == stored.sha256

    def test_a_second_put_is_refused_and_overwrites_nothing(self, store: Store, tmp_path: Path) -> None:
        first = store.put_new("a/b.h5", random_file(tmp_path / "one.bin", 5000, seed=1))
        with pytest.raises(ArrayFileExistsError, match=r"'a/b.h5'.*already exists.*never overwritten"):
            store.put_new("a/b.h5", random_file(tmp_path / "two.bin", 7000, seed=2))
        assert store.size("a/b.h5") == 5000 and store.sha256("a/b.h5") == first.sha256

    @pytest.mark.parametrize("key", ESCAPING_KEYS)
    def test_keys_that_leave_the_root_are_refused(self, store: Store, tmp_path: Path, key: str) -> None:
        source = random_file(tmp_path / "src.bin", 10, seed=1)
        for operation in (lambda: store.put_new(key, source), lambda: store.open_reader(key),
                          lambda: store.exists(key), lambda: store.delete(key), lambda: store.sha256(key)):
            with pytest.raises(IntegrityError, match="refused"):
                operation()
        assert list(store.iter_keys()) == []

    def test_a_small_window_of_a_big_object_fetches_few_bytes(self, store: Store, tmp_path: Path) -> None:
        source = random_file(tmp_path / "big.bin", 16 * 2**20, seed=3)
        store.put_new("big.bin", source)
        reset_io_stats()
        with store.open_reader("big.bin") as reader:
            reader.seek(9_000_000)
            window = reader.read(1000)
        assert window == source.read_bytes()[9_000_000:9_001_000]
        fetched = io_stats().store_bytes_fetched
        assert 1000 <= fetched <= 2 * stores_module.DEFAULT_BLOCK_BYTES < source.stat().st_size // 100

    def test_h5py_reads_a_chunk_file_through_the_store(self, store: Store, tmp_path: Path) -> None:
        rng = np.random.default_rng(7)
        masks = [np.column_stack([rng.integers(0, 20, 5), rng.integers(0, 30, 5), rng.random(5)]) for _ in range(40)]
        traces = rng.standard_normal((5000, 40)).astype(np.float32)
        arrays = PlaneArrays(masks=CsrMasks.from_pixel_masks(masks), traces={"raw": traces})
        written = write_chunk_file(tmp_path / "local", "seg_3/plane_0.h5", arrays)
        stored = store.put_new("seg_3/plane_0.h5", tmp_path / "local" / "seg_3/plane_0.h5")
        assert (stored.size_bytes, stored.sha256) == (written.size_bytes, written.sha256)
        reset_io_stats()
        with store.open_reader("seg_3/plane_0.h5") as reader, h5py.File(reader, "r") as handle:
            np.testing.assert_array_equal(handle["traces/raw"][1000:1200, 5:9], traces[1000:1200, 5:9])
            np.testing.assert_array_equal(handle["masks/indptr"][:], arrays.masks.indptr)
        assert 0 < io_stats().store_bytes_fetched < written.size_bytes

    def test_iter_keys_lists_folders_sorted_and_delete_removes_one(self, store: Store, tmp_path: Path) -> None:
        source = random_file(tmp_path / "src.bin", 100, seed=1)
        for key in ("seg_2/p1.h5", "seg_1/p0.h5", "seg_1/p1.h5", "seg_10/p0.h5"):
            store.put_new(key, source)
        assert list(store.iter_keys()) == ["seg_1/p0.h5", "seg_1/p1.h5", "seg_10/p0.h5", "seg_2/p1.h5"]
        assert list(store.iter_keys("seg_1")) == ["seg_1/p0.h5", "seg_1/p1.h5"]
        store.delete("seg_1/p0.h5")
        assert not store.exists("seg_1/p0.h5")
        assert list(store.iter_keys("seg_1")) == ["seg_1/p1.h5"]
        with pytest.raises(NotFoundError, match="'seg_1/p0.h5'.*does not exist"):
            store.delete("seg_1/p0.h5")

    def test_missing_objects_are_named(self, store: Store) -> None:
        for operation in (lambda: store.size("nope/x.h5"), lambda: store.open_reader("nope/x.h5"),
                          lambda: store.sha256("nope/x.h5")):
            with pytest.raises(NotFoundError, match="'nope/x.h5'.*does not exist"):
                operation()
        assert not store.exists("nope/x.h5")

    @pytest.mark.parametrize("size", [200_000, 3 * 2**20], ids=["single-put", "multipart"])
    def test_two_writers_racing_for_one_key_leave_one_intact_file(
        self, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
    ) -> None:
        # Ten rounds: a server whose conditional write is check-then-act lets both win only now and then.
        monkeypatch.setattr(stores_module, "SINGLE_PUT_MAX_BYTES", 2**20)
        sources = [random_file(tmp_path / f"w{i}.bin", size, seed=i) for i in range(2)]
        digests = [sha256_file(source) for source in sources]
        for round_ in range(10):
            key = f"race/{round_}/plane.h5"
            outcomes = _race(lambda index, key=key: store.put_new(key, sources[index]))
            winners = [index for index, outcome in enumerate(outcomes) if not isinstance(outcome, BaseException)]
            assert len(winners) == 1, outcomes
            assert isinstance(outcomes[1 - winners[0]], ArrayFileExistsError), outcomes
            assert store.sha256(key) == digests[winners[0]] == outcomes[winners[0]].sha256
            assert list(store.iter_keys(f"race/{round_}")) == [key]  # no temporary object left


def _race(put) -> list[object]:
    """Run ``put(0)`` and ``put(1)`` in two threads released together; what each returned or raised."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def write(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = put(index)
        except BaseException as error:  # noqa: BLE001 - the test inspects what each writer got
            outcomes[index] = error

    threads = [threading.Thread(target=write, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _use_profile_lab(s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str) -> None:
    """AWS_PROFILE=lab, with ``config`` as the AWS config file and the server's keys as lab's credentials."""
    (tmp_path / "aws-config").write_text(config)
    (tmp_path / "aws-credentials").write_text(
        f"[lab]\naws_access_key_id = {s3_server.access_key_id}\n"
        f"aws_secret_access_key = {s3_server.secret_access_key}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_PROFILE", "lab")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


class TestLocalStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        root = tmp_path / "root"
        root.mkdir()
        return LocalStore(root)


class TestS3Store(StoreContract):
    @pytest.fixture
    def store(self, s3_server) -> Store:
        return S3Store(s3_server.url(f"t-{uuid.uuid4().hex[:10]}"), **s3_server.store_options())

    @pytest.mark.parametrize("size", [200_000, 3 * 2**20], ids=["single-put", "multipart"])
    def test_two_writers_racing_for_one_key_leave_one_intact_file(
        self, store: Store, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
    ) -> None:
        if size > 2**20 and not s3_server.honours_conditional_copy:
            pytest.skip(
                f"{s3_server.kind} ignores If-None-Match on CopyObject, so S3Store refuses multipart uploads there "
                "(test_a_multipart_upload_lands_only_where_the_server_honours_conditional_copy)"
            )
        if size <= 2**20 and not s3_server.atomic_conditional_put:
            pytest.skip(
                f"{s3_server.kind} checks If-None-Match on PutObject and then writes, unlocked, so two racing PUTs "
                "can both succeed: a write-once race needs a server that makes the check atomic (SeaweedFS, AWS S3)"
            )
        super().test_two_writers_racing_for_one_key_leave_one_intact_file(store, tmp_path, monkeypatch, size)

    @pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's memory from /proc")
    def test_a_single_put_sends_the_staged_file_without_holding_a_copy_in_memory(
        self, store: S3Store, tmp_path: Path
    ) -> None:
        """A file of up to 5 GiB goes in one PUT from a memory map of the staged file: the process's own
        (anonymous) memory does not grow by the file's size, as it would with the file read into bytes."""
        size = 128 * 2**20
        source = random_file(tmp_path / "large.bin", size, seed=7)
        before, peak = _anonymous_bytes(), [0]
        sent = threading.Event()

        def watch() -> None:
            while not sent.wait(0.005):
                peak[0] = max(peak[0], _anonymous_bytes())

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            stored = store.put_new("seg_1/large.h5", source)
        finally:
            sent.set()
            watcher.join()
        assert stored.sha256 == sha256_file(source) and store.size("seg_1/large.h5") == size
        assert peak[0] - before < size / 4, f"anonymous memory grew by {(peak[0] - before) / 2**20:.0f} MiB"

    def test_a_multipart_upload_lands_only_where_the_server_honours_conditional_copy(
        self, store: S3Store, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(stores_module, "SINGLE_PUT_MAX_BYTES", 2**20)
        source = random_file(tmp_path / "big.bin", 3 * 2**20, seed=4)
        if s3_server.honours_conditional_copy:
            assert store.put_new("seg_1/big.h5", source).sha256 == sha256_file(source)
            assert list(store.iter_keys()) == ["seg_1/big.h5"]
        else:
            with pytest.raises(
                StorageUnavailableError, match=r"'seg_1/big.h5'.*ignores that condition.*conditional CopyObject"
            ):
                store.put_new("seg_1/big.h5", source)
            assert list(store.iter_keys()) == []  # neither the probe's objects nor the file

    def test_server_checksum_is_the_etag_recorded_at_put(self, store: S3Store, tmp_path: Path) -> None:
        source = random_file(tmp_path / "src.bin", 1000, seed=1)
        stored = store.put_new("x.h5", source)
        assert store.server_checksum("x.h5") == stored.server_checksum == hashlib.md5(source.read_bytes()).hexdigest()

    def test_credentials_and_endpoint_come_from_the_environment(
        self, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        closed = f"http://127.0.0.1:{_closed_port()}"
        for name, value in s3_server.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", closed)  # AWS_ENDPOINT_URL_S3, the service-specific one, wins
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        store = S3Store(s3_server.url(f"env-{uuid.uuid4().hex[:8]}"))
        store.put_new("a.h5", random_file(tmp_path / "a.bin", 10, seed=1))
        assert store.endpoint == s3_server.endpoint and store.size("a.h5") == 10

    def test_an_aws_profile_supplies_credentials_and_region(
        self, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _use_profile_lab(s3_server, tmp_path, monkeypatch, "[profile lab]\nregion = us-east-1\n")
        store = S3Store(s3_server.url(f"profile-{uuid.uuid4().hex[:8]}"), endpoint=s3_server.endpoint)
        store.put_new("a.h5", random_file(tmp_path / "a.bin", 10, seed=1))
        assert store.size("a.h5") == 10
        assert s3_server.secret_access_key.encode() not in pickle.dumps(store)

    @pytest.mark.parametrize("where", ["profile", "services section"])
    def test_an_aws_profile_supplies_the_endpoint(
        self, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
    ) -> None:
        """A campus S3 or MinIO set up in ~/.aws/config (``endpoint_url``, as the AWS CLI reads it) works as it is."""
        config = (f"[profile lab]\nregion = us-east-1\nendpoint_url = {s3_server.endpoint}\n" if where == "profile" else
                  f"[profile lab]\nregion = us-east-1\nservices = campus\n\n[services campus]\ns3 =\n"
                  f"  endpoint_url = {s3_server.endpoint}\n")
        _use_profile_lab(s3_server, tmp_path, monkeypatch, config)
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            monkeypatch.delenv(name, raising=False)
        store = S3Store(s3_server.url(f"profile-endpoint-{uuid.uuid4().hex[:8]}"))
        assert store.endpoint == s3_server.endpoint and s3_server.endpoint in store.describe("a.h5")
        store.put_new("a.h5", random_file(tmp_path / "a.bin", 10, seed=1))
        assert store.size("a.h5") == 10
        # Without an endpoint in the profile, AWS S3's own is left to the client.
        (tmp_path / "aws-config").write_text("[profile lab]\nregion = eu-west-1\n")
        assert S3Store("s3://some-bucket/x").endpoint is None

    def test_a_profile_the_config_does_not_define_is_refused_in_one_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "aws-config").write_text("[profile lab]\nregion = us-east-1\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
        monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(InvalidInputError, match="AWS_PROFILE is 'no-such-profile', which the AWS config .* does "
                                                    "not define; name one of its profiles, or unset AWS_PROFILE"):
            S3Store("s3://some-bucket/x")

    def test_secrets_stay_out_of_repr_pickles_and_errors(self, s3_server, tmp_path: Path) -> None:
        secret = s3_server.secret_access_key
        store = S3Store(s3_server.url("secrets"), **s3_server.store_options())
        store.put_new("a.h5", random_file(tmp_path / "a.bin", 10, seed=1))
        pickled = pickle.dumps(store)
        assert secret not in repr(store) and secret not in str(store)
        assert secret.encode() not in pickled and s3_server.access_key_id.encode() not in pickled
        revived = pickle.loads(pickled)
        assert revived.url == store.url and revived.endpoint == store.endpoint
        options = dict(s3_server.store_options(), endpoint=f"http://127.0.0.1:{_closed_port()}")
        unreachable = S3Store(s3_server.url("secrets"), max_retries=1, timeout=2, **options)
        with pytest.raises(StorageUnavailableError) as caught:
            unreachable.size("a.h5")
        assert secret not in str(caught.value) and secret not in repr(caught.value)

    def test_wrong_credentials_are_refused_in_one_line_without_the_secret(self, s3_server) -> None:
        wrong = "wrong" + s3_server.secret_access_key[5:]
        options = dict(s3_server.store_options(), secret_access_key=wrong)
        store = S3Store(s3_server.url("p"), max_retries=1, timeout=2, **options)
        with pytest.raises(StorageUnavailableError, match=r"HEAD of object 'a.h5'.*refused.*credentials") as caught:
            store.size("a.h5")
        assert "\n" not in str(caught.value) and wrong not in str(caught.value)
        assert s3_server.endpoint in str(caught.value)

    def test_an_unreachable_endpoint_is_one_line_naming_key_and_endpoint(self, s3_server) -> None:
        endpoint = f"http://127.0.0.1:{_closed_port()}"
        options = dict(s3_server.store_options(), endpoint=endpoint)
        store = S3Store(s3_server.url("p"), max_retries=1, timeout=2, **options)
        with pytest.raises(StorageUnavailableError) as caught:
            store.open_reader("seg_1/plane_0.h5")
        message = str(caught.value)
        assert "\n" not in message and "'seg_1/plane_0.h5'" in message and endpoint in message

    def test_a_read_after_the_server_stops_is_one_line_naming_key_and_endpoint(
        self, start_s3_server, tmp_path: Path
    ) -> None:
        server = start_s3_server()
        store = S3Store(server.url("p"), **server.store_options())
        traces = np.random.default_rng(2).standard_normal((200_000, 4)).astype(np.float32)
        masks = CsrMasks.from_pixel_masks([np.array([[1.0, 1.0, 1.0]])] * 4)
        write_chunk_file(tmp_path / "local", "seg_1/plane_0.h5", PlaneArrays(masks=masks, traces={"raw": traces}))
        store.put_new("seg_1/plane_0.h5", tmp_path / "local" / "seg_1/plane_0.h5")
        impatient = S3Store(server.url("p"), max_retries=1, timeout=2, **server.store_options())
        with h5py.File(impatient.open_reader("seg_1/plane_0.h5"), "r") as handle:
            dataset = handle["traces/raw"]
            np.testing.assert_array_equal(dataset[:10], traces[:10])
            server.stop()
            with pytest.raises(StorageUnavailableError) as caught:
                dataset[150_000:150_010]  # through h5py: the store's error comes out as it was raised
        message = str(caught.value)
        assert "\n" not in message and "'seg_1/plane_0.h5'" in message and server.endpoint in message


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_keys_are_checked_before_any_store_is_touched() -> None:
    store = S3Store("s3://segdb-test/p", endpoint=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(IntegrityError, match="URL scheme"):
        store.exists("https://elsewhere/x")


@pytest.mark.parametrize("url", ["s3://", "s3://Upper/x", "https://bucket/x", "s3://b/x"])
def test_a_storage_root_that_is_not_an_s3_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"s3://bucket/prefix"):
        S3Store(url)


def test_a_storage_root_prefix_cannot_climb_out_of_its_bucket() -> None:
    with pytest.raises(IntegrityError, match="'..' component"):
        S3Store("s3://segdb-test/lab/../other")
    assert S3Store("s3://segdb-test/lab/segdb/").url == "s3://segdb-test/lab/segdb"
