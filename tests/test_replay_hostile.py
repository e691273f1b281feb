"""Hostile and careless clients cost no one else: stalled readers, huge requests, floods, leaks at stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from replay_client import call, client, get, payloads, post, result, stalled_client, threads_of_the_replay
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from pdlogkit.errors import ReplayError
from pdlogkit.replay import ReplayServer
from pdlogkit.replay.http import MAX_BODY
from pdlogkit.replay.rpc import MAX_BATCH
from pdlogkit.synth import write_log


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `condition()` until true; the timeout only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        time.sleep(0.01)


def test_a_stalled_client_is_dropped_with_1008_and_counted_while_the_others_keep_receiving(synth_log):
    """A raw client that completes the handshake then never reads, beside a normal client."""
    expected = payloads(synth_log, end=8.0)

    async def normal_client(url: str) -> list[bytes]:
        async with aconnect(url, max_size=None) as ws:
            return [await asyncio.wait_for(ws.recv(), 10) for _ in expected]

    with ReplayServer(synth_log, speed=4, end=8.0, paused=True, client_buffer=256 * 1024) as server:
        stalled = stalled_client(server.ws_port)

        async def scenario() -> list[bytes]:
            task = asyncio.create_task(normal_client(server.ws_url))
            while server.clients < 2:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(server.set_playing, True)
            return await task

        got = asyncio.run(scenario())
        assert server.stats.slow_clients_dropped == 1
        assert result(server.rpc_url, "playback_status")["slow_clients_dropped"] == 1
        wait_until(lambda: server.clients == 0, what="both clients gone")  # the stalled one is no client
        stalled.settimeout(20)  # the server let go of it: its socket ends (after what was in flight)
        with contextlib.suppress(ConnectionResetError):
            while stalled.recv(1 << 16):
                pass
        stalled.close()
    assert got == expected


def test_an_overflowing_client_reads_a_clear_close_reason(synth_log):
    """A websockets client that stops reading, then comes back within the close timeout: it finds why."""

    async def scenario(server: ReplayServer) -> ConnectionClosed:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.ws_port))
        async with aconnect(server.ws_url, sock=sock, max_size=None, max_queue=1) as ws:
            deadline = time.monotonic() + 20
            while server.stats.slow_clients_dropped == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as closed:
                return closed
        raise AssertionError("the connection was not closed")

    with ReplayServer(synth_log, speed=5, client_buffer=32 * 1024, close_timeout=10, per_client=True) as server:
        closed = asyncio.run(scenario(server))
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert "too slow" in closed.rcvd.reason


def test_a_client_that_closes_with_much_unread_is_let_go_at_once_at_speed_zero(camera_log):
    """A client with a bounded queue reads one event and closes. It stops reading the socket when its
    queue is full, so it never sees the server's closing frame behind megabytes of queued events: the
    server must let go on its own, not hold the connection until the client gives up (30 s here)."""
    with ReplayServer(camera_log, speed=0, per_client=True, close_timeout=30) as server:
        ws = connect(server.ws_url, max_size=None, max_queue=4, close_timeout=30, legacy=True)
        ws.recv(timeout=10)
        wait_until(lambda: server.status()["connections"] == 1)
        closing = threading.Thread(target=ws.close)  # returns when the client sees the end, or after 30 s
        closing.start()
        wait_until(lambda: server.status()["connections"] == 0, timeout=20, what="the connection let go")
        assert server.stats.slow_clients_dropped == 0
        while closing.is_alive():  # the test's own cleanup: take the queue so the client sees the end
            with contextlib.suppress(Exception):
                ws.recv(timeout=0.1)
        closing.join()


def test_a_hundred_clients_some_vanishing_abruptly_do_not_disturb_the_rest(sensor_log):
    expected = payloads(sensor_log, end=3.0)  # 218 events

    async def one(url: str, abort_after: int | None) -> list[bytes]:
        got = []
        async with aconnect(url, max_size=None) as ws:
            while len(got) < len(expected):
                got.append(await asyncio.wait_for(ws.recv(), 10))
                if abort_after is not None and len(got) == abort_after:
                    ws.transport.abort()
                    return got
        return got

    async def scenario(server: ReplayServer) -> list[list[bytes]]:
        tasks = [asyncio.create_task(one(server.ws_url, 50 + i if i % 5 == 0 else None)) for i in range(100)]
        while server.clients < 100:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(server.set_playing, True)
        return await asyncio.gather(*tasks)

    with ReplayServer(sensor_log, speed=1, end=3.0, paused=True) as server:
        results = asyncio.run(scenario(server))
        assert result(server.rpc_url, "playback_status")["finished"] is True
    # Timing under such load is the benchmark's to measure (tools/bench_replay.py), not a test's.
    for i, got in enumerate(results):
        assert got == (expected[: 50 + i] if i % 5 == 0 else expected)


def test_at_speed_zero_a_stalled_client_is_dropped_and_the_others_get_everything(synth_log):
    expected = payloads(synth_log, end=4.0)
    with ReplayServer(synth_log, speed=0, end=4.0, paused=True, client_buffer=256 * 1024) as server:
        stalled = stalled_client(server.ws_port)
        with client(server.ws_url) as ws:
            wait_until(lambda: server.clients == 2)
            result(server.rpc_url, "playback_enable", True)
            assert [ws.recv(timeout=20) for _ in expected] == expected
        stalled.close()
        assert server.stats.slow_clients_dropped == 1


def test_an_oversized_batch_or_body_is_refused_while_the_stream_goes_on(sensor_log):
    expected = payloads(sensor_log, end=6.0)
    batch = [{"jsonrpc": "2.0", "method": "get_scan_capacitance", "id": k} for k in range(MAX_BATCH + 1)]
    with ReplayServer(sensor_log, speed=2, end=6.0, wait=True) as server, client(server.ws_url) as ws:
        got = [ws.recv(timeout=10) for _ in range(20)]
        status, answer = post(server.rpc_url, json.dumps(batch).encode())
        assert status == 200 and answer["error"]["code"] == -32600 and str(MAX_BATCH) in answer["error"]["message"]
        status, answers = post(server.rpc_url, json.dumps(batch[:MAX_BATCH]).encode())
        assert status == 200 and len(answers) == MAX_BATCH and all("result" in a for a in answers)
        status, answer = post(server.rpc_url, b" " * (MAX_BODY + 1))
        assert status == 413 and answer["error"]["code"] == -32600
        with socket.create_connection(("127.0.0.1", server.http_port)) as sock:  # says so before sending it
            sock.sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
            reply = sock.makefile("rb").read()
        assert reply.startswith(b"HTTP/1.1 413") and b"-32600" in reply
        got += [ws.recv(timeout=10) for _ in expected[20:]]
    assert got == expected


def test_the_control_api_survives_hostile_requests(sensor_log, capfd):
    """Deep JSON, clients resetting mid-answer, numbers too large for a float, chunked bodies."""
    with ReplayServer(sensor_log, paused=True) as server:
        status, answer = post(server.rpc_url, b"[" * (MAX_BODY - 1))
        assert status == 200 and answer["error"]["code"] == -32700
        batch = json.dumps([{"jsonrpc": "2.0", "method": "get_scan_capacitance", "id": k} for k in range(MAX_BATCH)])
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.http_port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(
                b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(batch), batch.encode())
            )
            sock.close()  # a reset before reading the answer
        huge = b"1" + b"0" * 400
        for method in (b"playback_seek", b"playback_speed"):
            body = b'{"jsonrpc":"2.0","method":"%s","params":[%s],"id":1}' % (method, huge)
            assert post(server.rpc_url, body)[1]["error"]["code"] == -32602
        with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
            body = b'{"jsonrpc":"2.0","method":"playback_status","id":7}'
            sock.sendall(
                b"POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            )
            reply = sock.makefile("rb").read()
        assert b"200 OK" in reply and b'"id":7' in reply
        assert result(server.rpc_url, "playback_status")["paused"] is True  # still serving
    assert "Traceback" not in capfd.readouterr().err


def test_fifty_parallel_connects_are_all_answered(sensor_log):
    """A burst of clients connecting at once: none is reset (the listen backlog holds them)."""
    with ReplayServer(sensor_log, paused=True) as server:
        barrier = threading.Barrier(50)

        def one(_: int) -> int:
            barrier.wait(10)
            answer = call(server.rpc_url, "get_active_capacitance")
            return 1 if answer.get("result") == 0.0 else 0

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            assert sum(pool.map(one, range(50))) == 50

        def websocket(_: int) -> bool:
            barrier.wait(10)
            with client(server.ws_url):
                return True

        barrier = threading.Barrier(50)
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            assert all(pool.map(websocket, range(50)))


def test_keep_alive_requests_reuse_one_connection(sensor_log):
    with ReplayServer(sensor_log, paused=True) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
        body = json.dumps({"jsonrpc": "2.0", "method": "get_temperatures", "params": [], "id": 1})
        sockets = set()
        for _ in range(20):
            connection.request("POST", "/rpc", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["result"] == []
            sockets.add(id(connection.sock))
        connection.close()
    assert len(sockets) == 1


def test_the_status_page_shows_a_log_whose_name_is_not_utf8(tmp_path):
    name = os.fsdecode(b"run-\xff\xfe.bin")
    path = tmp_path / name
    write_log(path, 1.0, camera=False, seed=1)
    with ReplayServer(path, paused=True) as server:
        status, content_type, page = get(server.http_url + "/status")
        info = result(server.rpc_url, "get_replay_info")
    assert status == 200 and content_type.startswith("text/html")
    assert b"run-\\xff\\xfe.bin" in page
    assert info["log"] == "run-\\xff\\xfe.bin"


def test_stop_lets_go_of_a_request_whose_body_never_comes_and_leaves_no_thread_or_task(sensor_log):
    before = set(threading.enumerate())
    server = ReplayServer(sensor_log)
    server.__enter__()
    sock = socket.create_connection(("127.0.0.1", server.http_port))
    sock.sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    result(server.rpc_url, "playback_seek", 5)  # a seek starts more reading threads
    with client(server.ws_url) as ws:
        ws.recv(timeout=10)
        loop = server._background.loop  # type: ignore[union-attr]
        server.__exit__(None, None, None)
    sock.settimeout(20)  # only so a broken test cannot hang: stop() does not wait for the body
    try:
        assert sock.recv(100) == b""
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert loop.is_closed()  # every task of the server ran on it and was done with when it closed
    assert set(threading.enumerate()) <= before
    assert not threads_of_the_replay()


def test_a_client_that_keeps_up_is_told_going_away_when_the_replay_stops_and_a_stalled_one_is_cut_off(synth_log):
    server = ReplayServer(synth_log)
    server.__enter__()
    with client(server.ws_url) as ws, stalled_client(server.ws_port):
        ws.recv(timeout=10)
        server.__exit__(None, None, None)  # the stalled client must not hold this up (it is cut off)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert closed.value.rcvd.reason == "the replay stopped"


def test_the_async_server_leaves_no_task_or_thread_in_the_callers_loop(sensor_log):
    async def scenario() -> tuple[set, set]:
        before = asyncio.all_tasks()
        async with ReplayServer(sensor_log, speed=0, per_client=True) as server:
            async with aconnect(server.ws_url, max_size=None) as ws:
                await ws.recv()
            await asyncio.to_thread(call, server.rpc_url, "playback_seek", 10)
        return asyncio.all_tasks() - before, {t for t in threading.enumerate() if t.name.startswith("pdlogkit")}

    tasks, threads = asyncio.run(scenario())
    assert not tasks and not threads


def test_a_failed_start_leaves_nothing_open(sensor_log):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]

    def open_files() -> list[str]:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return names

    try:
        for taken in ({"ws_port": port}, {"http_port": port}):
            before = open_files()
            with pytest.raises(ReplayError, match="cannot serve"), ReplayServer(sensor_log, **taken):
                pass
            assert str(sensor_log) not in open_files()
            assert len(open_files()) <= len(before)
            assert not threads_of_the_replay()
    finally:
        busy.close()


@pytest.fixture(scope="module")
def camera_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s with a small camera (320x240 at 10 frames/s)."""
    path = tmp_path_factory.mktemp("replay") / "camera.bin"
    write_log(path, 10.0, seed=3, frame_size=(320, 240))
    return path
