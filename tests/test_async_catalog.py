"""The async catalog client: futures, de-duplication, retries, failures, reservations."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flytelite as fl
from flytelite.catalog import (
    AsyncCatalogClient,
    CatalogConfig,
    DownloadRequest,
    Entry,
    FsspecCatalog,
    Key,
    QueueConfig,
    ReservationStatus,
    ResponseStatus,
    UploadRequest,
)

HIT, MISS, POPULATED = fl.CacheStatus.HIT, fl.CacheStatus.MISS, fl.CacheStatus.POPULATED


class SlowCatalog(FsspecCatalog):
    """A user's subclass: counts lookups and adds store latency."""

    def __init__(self, url: str, latency: float = 0.0, gate: threading.Event | None = None):
        super().__init__(url)
        self.latency = latency
        self.gate = gate
        self.gets = 0
        self.lock = threading.Lock()

    def get(self, key: Key) -> Entry | None:
        with self.lock:
            self.gets += 1
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.latency)
        return super().get(key)


class FlakyCatalog(FsspecCatalog):
    def __init__(self, url: str, failures: int, error: type[Exception] = OSError) -> None:
        super().__init__(url)
        self.failures = failures
        self.error = error
        self.calls = 0

    def get(self, key: Key) -> Entry | None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"transient failure {self.calls}")
        return super().get(key)


def keys(n: int, task: str = "env.task") -> list[Key]:
    return [Key(task, "1", {"i": i}) for i in range(n)]


def test_using_the_client_before_start_raises_at_once(tmp_path: Path) -> None:
    client = AsyncCatalogClient(FsspecCatalog(str(tmp_path)))
    (key,) = keys(1)

    async def main() -> None:
        with pytest.raises(fl.CatalogNotStartedError, match="async with AsyncCatalogClient"):
            client.download(DownloadRequest(key))
        with pytest.raises(fl.CatalogNotStartedError):
            client.upload(UploadRequest(key, 1))
        with pytest.raises(fl.CatalogNotStartedError):
            await client.get_or_extend_reservation(key, "me")

    asyncio.run(main())


def test_futures_go_from_not_ready_to_ready(tmp_path: Path) -> None:
    gate = threading.Event()
    catalog = SlowCatalog(str(tmp_path), gate=gate)
    (key,) = keys(1)
    catalog.put(key, "stored")

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            future = client.download(DownloadRequest(key))
            assert future.status is ResponseStatus.NOT_READY
            with pytest.raises(RuntimeError, match="not ready"):
                future.response()
            gate.set()
            response = await future
            assert future.status is ResponseStatus.READY
            assert response.cached_count == 1
            assert response.results[0].hit and response.results[0].outputs == "stored"
            assert future.response().results[0].outputs == "stored"

    asyncio.run(main())


def test_uploads_create_once_and_overwrite_on_request(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    key, other = keys(2)

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            first = await client.upload(UploadRequest(key, "a"), UploadRequest(other, "b"))
            assert [r.status for r in first.results] == [POPULATED, POPULATED]
            again = await client.upload(UploadRequest(key, "changed"))
            assert again.results[0].status is HIT  # the first valid entry stands
            forced = await client.upload(UploadRequest(key, "forced", overwrite=True))
            assert forced.results[0].status is POPULATED
            response = await client.download(DownloadRequest(key), DownloadRequest(other))
            assert [r.outputs for r in response.results] == ["forced", "b"]
            assert response.cached_count == 2

    asyncio.run(main())


def test_identical_concurrent_lookups_cost_one_store_read(tmp_path: Path) -> None:
    catalog = SlowCatalog(str(tmp_path), latency=0.1)
    (key,) = keys(1)
    catalog.put(key, 7)

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            futures = [client.download(DownloadRequest(key)) for _ in range(200)]
            responses = await asyncio.gather(*futures)
            assert all(r.results[0].outputs == 7 for r in responses)
            assert client.stats()["reader_submitted"] == 200

    asyncio.run(main())
    assert catalog.gets == 1


def test_lookups_overlap_store_latency(tmp_path: Path) -> None:
    catalog = SlowCatalog(str(tmp_path), latency=0.05)
    config = CatalogConfig(reader=QueueConfig(workers=10))

    async def main() -> float:
        async with AsyncCatalogClient(catalog, config) as client:
            started = time.perf_counter()
            response = await client.download(*(DownloadRequest(k) for k in keys(100)))
            elapsed = time.perf_counter() - started
            assert [r.status for r in response.results] == [MISS] * 100
            return elapsed

    elapsed = asyncio.run(main())
    assert catalog.gets == 100
    assert elapsed < 0.9, f"100 lookups x 50 ms on 10 workers took {elapsed:.2f} s"


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    catalog = FlakyCatalog(str(tmp_path), failures=2)
    (key,) = keys(1)
    catalog.put(key, "eventually")

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            result = (await client.download(DownloadRequest(key))).results[0]
            assert result.hit and result.outputs == "eventually"

    asyncio.run(main())
    assert catalog.calls == 3


def test_a_request_that_keeps_failing_comes_back_as_a_failure(tmp_path: Path) -> None:
    catalog = FlakyCatalog(str(tmp_path), failures=100)
    config = CatalogConfig(reader=QueueConfig(max_retries=2))

    async def main() -> None:
        async with AsyncCatalogClient(catalog, config) as client:
            result = (await client.download(DownloadRequest(keys(1)[0]))).results[0]
            assert result.status is fl.CacheStatus.LOOKUP_FAILURE
            assert isinstance(result.error, OSError)
            assert "transient failure 3" in str(result.error)

    asyncio.run(asyncio.wait_for(main(), 10))
    assert catalog.calls == 3


def test_errors_that_are_not_transient_fail_without_retry(tmp_path: Path) -> None:
    catalog = FlakyCatalog(str(tmp_path), failures=100, error=ValueError)

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            result = (await client.download(DownloadRequest(keys(1)[0]))).results[0]
            assert result.status is fl.CacheStatus.LOOKUP_FAILURE
            assert isinstance(result.error, ValueError)

    asyncio.run(main())
    assert catalog.calls == 1


def test_expired_entries_are_misses_with_a_reason(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    (key,) = keys(1)
    catalog.put(key, 1)
    time.sleep(0.05)

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            fresh = (await client.download(DownloadRequest(key, max_age=10))).results[0]
            stale = (await client.download(DownloadRequest(key, max_age=0.01))).results[0]
            assert fresh.hit
            assert stale.status is MISS and stale.reason is not None
            assert "expired" in stale.reason

    asyncio.run(main())


def test_the_engine_uses_the_users_catalog_subclass_through_the_queues(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("subclass_catalog")

    @env.task(cache=True)
    async def leaf(i: int) -> int:
        return i

    @env.task
    async def root() -> list[int]:
        return list(await asyncio.gather(*(leaf(i % 3) for i in range(30))))

    # fl.run builds its own FsspecCatalog; the subclass is exercised by the client tests.
    config = CatalogConfig(reader=QueueConfig(workers=2), writer=QueueConfig(workers=2))
    run = fl.run(root, cache_url=str(tmp_path), catalog_config=config)
    assert run.outputs == [i % 3 for i in range(30)]
    statuses = [r.cache for r in run.report.by_task("leaf")]
    assert statuses.count(POPULATED) == 3 and statuses.count(HIT) == 27


def test_reservations_acquire_exist_extend_release_and_take_over(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    (key,) = keys(1)
    a = catalog.get_or_extend_reservation(key, "a", 0.1)
    assert a.status is ReservationStatus.ACQUIRED and a.owner_id == "a"
    b = catalog.get_or_extend_reservation(key, "b", 0.1)
    assert b.status is ReservationStatus.EXISTS and b.owner_id == "a"
    a2 = catalog.get_or_extend_reservation(key, "a", 0.1)
    assert a2.status is ReservationStatus.ACQUIRED and a2.expires_at >= a.expires_at
    assert a2.generation == a.generation
    time.sleep(0.35)  # three heartbeats without an extension: expired
    c = catalog.get_or_extend_reservation(key, "c", 0.1)
    assert c.status is ReservationStatus.ACQUIRED and c.generation == a.generation + 1
    stale = catalog.get_or_extend_reservation(key, "a", 0.1)
    assert stale.status is ReservationStatus.EXISTS and stale.owner_id == "c"
    catalog.release_reservation(key, "a")  # not the holder: nothing happens
    assert catalog.get_or_extend_reservation(key, "b", 0.1).status is ReservationStatus.EXISTS
    assert catalog.release_reservation(key, "c").status is ReservationStatus.RELEASED
    assert catalog.get_or_extend_reservation(key, "b", 0.1).status is ReservationStatus.ACQUIRED


def test_an_owner_whose_lease_lapsed_takes_it_over_like_anyone_else(tmp_path: Path) -> None:
    # Extending a released (or expired) lease in place would race with a caller that
    # read it expired and is creating the next generation: both would hold the key.
    catalog = FsspecCatalog(str(tmp_path))
    (key,) = keys(1)
    first = catalog.get_or_extend_reservation(key, "a", 0.1)
    catalog.release_reservation(key, "a")
    again = catalog.get_or_extend_reservation(key, "a", 0.1)
    assert again.status is ReservationStatus.ACQUIRED
    assert again.generation == first.generation + 1  # a new generation, created exclusively
    time.sleep(0.35)  # expired without an extension
    later = catalog.get_or_extend_reservation(key, "a", 0.1)
    assert later.status is ReservationStatus.ACQUIRED and later.generation == again.generation + 1


def test_concurrent_reservation_requests_have_one_winner(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    (key,) = keys(1)
    barrier = threading.Barrier(16)
    results: list[Any] = []

    def contend(i: int) -> None:
        barrier.wait()
        results.append(catalog.get_or_extend_reservation(key, f"owner-{i}", 5.0))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.status is ReservationStatus.ACQUIRED]
    assert len(winners) == 1
    assert {r.owner_id for r in results} == {winners[0].owner_id}


def test_serialize_executes_identical_calls_of_threads_once(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("serialize_threads")
    executed: list[int] = []
    lock = threading.Lock()

    @env.task(cache=fl.Cache(version="1", serialize=True))
    def once(x: int) -> int:
        with lock:
            executed.append(x)
        time.sleep(0.3)
        return x * 2

    config = CatalogConfig(reservation_heartbeat_s=0.2)
    outputs: list[Any] = []

    def run_one() -> None:
        outputs.append(fl.run(once, 21, cache_url=str(tmp_path), catalog_config=config).outputs)

    threads = [threading.Thread(target=run_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs == [42] * 4
    assert executed == [21]


def test_override_with_serialize_executes_once_and_waiters_get_the_fresh_value(
    tmp_path: Path,
) -> None:
    env = fl.TaskEnvironment("serialize_override")
    executed: list[int] = []
    lock = threading.Lock()

    @env.task(cache=fl.Cache(version="1"))
    def value() -> int:
        return 0

    fl.run(value, cache_url=str(tmp_path))  # an old entry the override must not serve

    @env.task(cache=fl.Cache(version="1", behavior="override", serialize=True))
    def value() -> int:  # type: ignore[no-redef]
        with lock:
            executed.append(1)
        time.sleep(0.3)
        return 1

    config = CatalogConfig(reservation_heartbeat_s=0.2)
    outputs: list[Any] = []
    barrier = threading.Barrier(3)

    def run_one() -> None:
        barrier.wait()
        outputs.append(fl.run(value, cache_url=str(tmp_path), catalog_config=config).outputs)

    threads = [threading.Thread(target=run_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs == [1, 1, 1]
    assert executed == [1]


def test_a_failed_holder_lets_the_next_caller_execute(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("serialize_failure")
    attempts: list[str] = []
    lock = threading.Lock()

    @env.task(cache=fl.Cache(version="1", serialize=True))
    def fragile(name: str) -> str:
        with lock:
            attempts.append(threading.current_thread().name)
            first = len(attempts) == 1
        time.sleep(0.2)
        if first:
            raise RuntimeError("the first holder fails")
        return "made it"

    config = CatalogConfig(reservation_heartbeat_s=0.1)
    results: dict[str, Any] = {}

    def run_one(name: str) -> None:
        try:
            run = fl.run(fragile, "x", cache_url=str(tmp_path), catalog_config=config)
            results[name] = (run.outputs, run.report[0].miss_reason)
        except fl.TaskFailedError as exc:
            results[name] = exc

    threads = [threading.Thread(target=run_one, args=(f"t{i}",), name=f"t{i}") for i in range(2)]
    threads[0].start()
    time.sleep(0.05)
    threads[1].start()
    for t in threads:
        t.join()
    assert isinstance(results["t0"], fl.TaskFailedError)
    outputs, reason = results["t1"]
    assert outputs == "made it"
    assert reason is not None and "held the reservation and failed" in reason
    assert len(attempts) == 2


def test_small_local_entries_skip_the_queues_and_large_ones_use_them(tmp_path: Path) -> None:
    # Small: inline. Medium (over `inline_io_below`, in the entry): queued. Large (a blob):
    # queued.
    small, medium, large = keys(3)
    outputs = ["tiny", b"y" * 300_000, b"x" * (1 << 20)]

    async def main(config: CatalogConfig) -> dict[str, int]:
        folder = tmp_path / str(config.inline_io_below)
        async with AsyncCatalogClient(FsspecCatalog(str(folder)), config) as client:
            written = await client.upload(
                *(UploadRequest(k, v) for k, v in zip((small, medium, large), outputs))
            )
            assert [r.status for r in written.results] == [POPULATED] * 3
            found = await client.download(*(DownloadRequest(k) for k in (small, medium, large)))
            assert [r.outputs for r in found.results] == outputs
            assert (await client.lookup(medium)).outputs == outputs[1]
            return client.stats()

    inline = asyncio.run(main(CatalogConfig()))
    assert inline["reader_submitted"] == 3  # the medium one (twice) and the large one
    assert inline["writer_submitted"] == 2
    queued = asyncio.run(main(CatalogConfig(inline_io_below=0)))
    assert queued["reader_submitted"] == 4  # every read through the reader queue


def test_a_held_reservation_outlives_a_blocked_event_loop(tmp_path: Path) -> None:
    # The client extends what it holds from a thread of its own: a loop blocked
    # for many lease lengths does not let the reservation lapse.
    catalog = FsspecCatalog(str(tmp_path))
    (key,) = keys(1)
    config = CatalogConfig(reservation_heartbeat_s=0.05)  # raised to 0.5 s

    async def main() -> list[ReservationStatus]:
        async with AsyncCatalogClient(catalog, config) as client:
            held = await client.get_or_extend_reservation(key, "holder")
            assert held.status is ReservationStatus.ACQUIRED
            seen = []
            for _ in range(4):
                time.sleep(0.8)  # the loop is blocked: no coroutine runs
                seen.append(catalog.get_or_extend_reservation(key, "other", 0.5).status)
            await client.release_reservation(key, "holder")
            seen.append(catalog.get_or_extend_reservation(key, "other", 0.5).status)
            return seen

    statuses = asyncio.run(main())
    assert statuses == [ReservationStatus.EXISTS] * 4 + [ReservationStatus.ACQUIRED]


def test_a_released_reservation_is_not_extended_again(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    (key,) = keys(1)

    async def main() -> None:
        config = CatalogConfig(reservation_heartbeat_s=0.05)
        async with AsyncCatalogClient(catalog, config) as client:
            await client.get_or_extend_reservation(key, "holder")
            await client.release_reservation(key, "holder")
            assert client.leases.held() == 0
            await asyncio.sleep(1.2)  # two heartbeats: nothing may revive it
            taken = catalog.get_or_extend_reservation(key, "other", 0.5)
            assert taken.status is ReservationStatus.ACQUIRED
            # The released generation was marked expired, not deleted: the next
            # holder made the next generation.
            assert taken.generation == 2

    asyncio.run(main())


def test_a_caller_cancelled_while_acquiring_gives_the_reservation_up(tmp_path: Path) -> None:
    gate = threading.Event()

    class GatedCatalog(FsspecCatalog):
        def get_or_extend_reservation(self, key: Key, owner_id: str, heartbeat_s: float) -> Any:
            gate.wait(10)
            return super().get_or_extend_reservation(key, owner_id, heartbeat_s)

    catalog = GatedCatalog(str(tmp_path))
    (key,) = keys(1)

    async def main() -> None:
        async with AsyncCatalogClient(catalog) as client:
            asking = asyncio.ensure_future(client.get_or_extend_reservation(key, "impatient"))
            await asyncio.sleep(0.05)
            asking.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asking
            gate.set()  # the request completes after its caller left
            for _ in range(100):
                await asyncio.sleep(0.02)
                if client.leases.held() == 0 and client.writer.executed >= 2:
                    break
            assert client.leases.held() == 0
        other = FsspecCatalog(str(tmp_path)).get_or_extend_reservation(key, "other", 5.0)
        assert other.status is ReservationStatus.ACQUIRED

    asyncio.run(main())


HEARTBEAT = CatalogConfig(reservation_heartbeat_s=0.5)  # leases of 1.5 s


class LateReplies(FsspecCatalog):
    """A store whose reservation replies arrive late: the request is carried out,
    then the reply takes `delay` seconds more (a queue at the server, a slow link)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.delay = 0.0

    def get_or_extend_reservation(self, key: Key, owner_id: str, heartbeat_s: float) -> Any:
        lease = super().get_or_extend_reservation(key, owner_id, heartbeat_s)
        time.sleep(self.delay)
        return lease


def test_a_reservation_whose_reply_comes_too_late_is_not_held(tmp_path: Path) -> None:
    # The lease ran out while its reply travelled: another process may take the key
    # over meanwhile, so the caller must not execute under it, and must wait instead.
    catalog = LateReplies(str(tmp_path))
    catalog.delay = 1.6  # longer than a first lease (3 heartbeats of 0.5 s)
    (key,) = keys(1)

    async def main() -> list[ReservationStatus]:
        async with AsyncCatalogClient(catalog, HEARTBEAT) as client:
            late = await client.get_or_extend_reservation(key, "holder")
            assert not client.holds_reservation(key, "holder")
            taken = FsspecCatalog(str(tmp_path)).get_or_extend_reservation(key, "other", 5.0)
            catalog.delay = 0.0
            again = await client.get_or_extend_reservation(key, "holder")
            return [late.status, taken.status, again.status]

    # The second ask measured the store and comes back EXISTS: "other" holds it now.
    assert asyncio.run(main()) == [
        ReservationStatus.EXISTS,
        ReservationStatus.ACQUIRED,
        ReservationStatus.EXISTS,
    ]


def test_an_extension_answered_after_its_lease_ran_out_drops_the_lease(tmp_path: Path) -> None:
    # An extension that lands after the old lease expired may have crossed another
    # process's takeover: the holder cannot be sure it is alone, so it stops holding.
    catalog = LateReplies(str(tmp_path))
    (key,) = keys(1)

    async def main() -> tuple[bool, bool]:
        async with AsyncCatalogClient(catalog, HEARTBEAT) as client:
            await client.get_or_extend_reservation(key, "holder")
            held_at_first = client.holds_reservation(key, "holder")
            catalog.delay = 2.0  # the keeper's next extension answers after expiry
            for _ in range(80):
                await asyncio.sleep(0.05)
                if client.leases.held() == 0:
                    break
            return held_at_first, client.holds_reservation(key, "holder")

    assert asyncio.run(main()) == (True, False)


def test_a_lookup_after_a_finished_upload_sees_it(tmp_path: Path) -> None:
    # Read-your-writes: a download issued after an upload of the same key has
    # completed must not join a download of it that started before the upload.
    gate = threading.Event()

    class ReadThenWait(FsspecCatalog):
        def get(self, key: Key) -> Entry | None:
            found = super().get(key)  # what the store held when the lookup began
            gate.wait(10)
            return found

    catalog = ReadThenWait(str(tmp_path))
    (key,) = keys(1)
    config = CatalogConfig(inline_io_below=0)  # every request through the queues

    async def main() -> tuple[Any, Any]:
        async with AsyncCatalogClient(catalog, config) as client:
            early = client.download(DownloadRequest(key))  # held at the gate
            await asyncio.sleep(0.05)
            await client.upload(UploadRequest(key, "value"))
            late = client.download(DownloadRequest(key))
            gate.set()
            return (await early).results[0], (await late).results[0]

    early, late = asyncio.run(main())
    assert late.status is HIT and late.entry is not None and late.entry.outputs == "value"
    assert early.status is MISS  # it read the store before the write


class Delegating:
    """A user's own client (no subclass): it wraps a catalog and declares the
    explaining capability by implementing its three methods."""

    def __init__(self, inner: FsspecCatalog, *, explains: bool) -> None:
        self.inner = inner
        if explains:
            self.inspect = inner.inspect
            self.index_records = inner.index_records
            self.add_index_records = inner.add_index_records

    def get(self, key: Key) -> Entry | None:
        return self.inner.get(key)

    def put(self, key: Key, outputs: Any, *, producer: str = "", max_age: Any = None) -> Any:
        return self.inner.put(key, outputs, producer=producer, max_age=max_age)

    def update(self, key: Key, outputs: Any, *, producer: str = "") -> Any:
        return self.inner.update(key, outputs, producer=producer)

    def get_or_extend_reservation(self, key: Key, owner_id: str, heartbeat_s: float) -> Any:
        return self.inner.get_or_extend_reservation(key, owner_id, heartbeat_s)

    def release_reservation(self, key: Key, owner_id: str) -> Any:
        return self.inner.release_reservation(key, owner_id)


@pytest.mark.parametrize("explains", [True, False])
def test_a_users_client_with_the_capability_gets_the_same_miss_reasons(
    tmp_path: Path, explains: bool
) -> None:
    from flytelite.catalog import ExplainingClient

    inner = FsspecCatalog(str(tmp_path))
    client = Delegating(inner, explains=explains)
    assert isinstance(client, ExplainingClient) is explains
    first, second, third = (Key("env.t", "1", {"x": x}) for x in (1, 2, 3))

    async def lookups(catalog: Any, *ks: Key) -> list[Any]:
        async with AsyncCatalogClient(catalog) as c:
            return [(await c.download(DownloadRequest(k))).results[0].reason for k in ks]

    async def write(catalog: Any, key: Key) -> None:
        async with AsyncCatalogClient(catalog) as c:
            await c.upload(UploadRequest(key, 1, producer="earlier-run"))

    asyncio.run(write(client if explains else inner, first))  # indexed either way
    inner.store.write(inner.entry_path(third), [b"not an entry"], exclusive=False)
    mine = asyncio.run(lookups(client, second, third))
    builtin = asyncio.run(lookups(inner, second, third))
    assert builtin == ["input 'x' changed", "entry unreadable: foreign format"]
    assert mine == (builtin if explains else [None, None])


@pytest.mark.parametrize("kind", ["local folder, read inline", "subclass, read by the queue"])
def test_lookup_gives_what_download_gives(tmp_path: Path, kind: str) -> None:
    """`lookup(key)` is `download(DownloadRequest(key))`'s one result: hits with their
    outputs, misses with their reasons, expiry by `max_age`; before `start`, an error."""
    catalog = (
        FsspecCatalog(str(tmp_path)) if kind.startswith("local") else SlowCatalog(str(tmp_path))
    )
    stored, absent = Key("env.t", "1", {"x": 1}), Key("env.t", "1", {"x": 2})
    catalog.put(stored, {"value": 1}, producer="earlier")

    async def main() -> None:
        client = AsyncCatalogClient(catalog)
        with pytest.raises(fl.CatalogNotStartedError):
            await client.lookup(stored)
        async with client:
            for key, max_age in ((stored, None), (absent, None), (stored, 0.0)):
                one = await client.lookup(key, max_age)
                (batch,) = (await client.download(DownloadRequest(key, max_age))).results
                assert (one.status, one.outputs, one.reason) == (
                    batch.status,
                    batch.outputs,
                    batch.reason,
                )
            assert (await client.lookup(stored)).outputs == {"value": 1}
            assert (await client.lookup(absent)).status is MISS
            expired = await client.lookup(stored, 0.0)
            assert expired.status is MISS and expired.reason is not None
            assert expired.reason.kind is fl.catalog.MissKind.EXPIRED

    asyncio.run(main())
