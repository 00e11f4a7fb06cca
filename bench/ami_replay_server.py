"""A minimal Asterisk manager that replays a recorded AMI stream, for bench/bench_bridge.py.

Runs in a process of its own (pinned to another CPU when it can) so that producing the stream
costs the client nothing. It greets like Asterisk, answers Login, Ping, the list actions a
bridge asks for on connecting (CoreShowChannels, DeviceStateList: empty lists) and Hangup
(``Success``, and it notes when each one arrived), then on ``go`` from its parent sends the
stream:

* ``burst``: every frame as fast as the client reads (throughput);
* ``paced RATE``: RATE frames per second, each stamped ``X-Sent: <monotonic seconds>`` as it
  is written (delay from arrival to decision);
* the deadline test is a burst too, its frames stamped ``Timestamp`` (timestampevents) with
  the moment the burst begins where they say ``@NOW@``; the Hangup arrival times are what it
  measures.

Protocol with the parent, one line each on stdin/stdout:
``port N`` (listening) · ``go MODE [RATE]`` → ``started T`` (monotonic, shared with the parent
on Linux: CLOCK_MONOTONIC) · ``sent T`` when the last frame is written · ``hangups`` →
``hangups <json {channel: monotonic}>`` · ``quit``.

    python bench/ami_replay_server.py STREAM_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frames_of(data: bytes) -> list[bytes]:
    return [f + b"\r\n\r\n" for f in data.split(b"\r\n\r\n") if f]


class Server:
    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.hangups: dict[str, float] = {}

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        writer.write(BANNER)
        self.connected.set()
        buf = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    self.answer(writer, raw)
        except (ConnectionError, asyncio.CancelledError):
            return  # the client went away, or the server is shutting down between runs

    def answer(self, writer: asyncio.StreamWriter, raw: bytes) -> None:
        headers: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers.setdefault(key.strip().lower(), value.strip())
        action = headers.get("action", "").lower()
        aid = headers.get("actionid", "")
        head = f"ActionID: {aid}\r\n" if aid else ""
        if action == "hangup":
            self.hangups[headers.get("channel", "")] = time.monotonic()
            writer.write(f"Response: Success\r\n{head}Message: Channel Hungup\r\n\r\n".encode())
        elif action == "login":
            writer.write(f"Response: Success\r\n{head}Message: Authentication accepted\r\n\r\n".encode())
        elif action == "ping":
            writer.write(f"Response: Success\r\n{head}Ping: Pong\r\nTimestamp: {time.time():.6f}\r\n\r\n".encode())
        elif action in ("coreshowchannels", "devicestatelist"):
            done = "CoreShowChannelsComplete" if action == "coreshowchannels" else "DeviceStateListComplete"
            writer.write(f"Response: Success\r\n{head}EventList: start\r\nMessage: will follow\r\n\r\n"
                         f"Event: {done}\r\n{head}EventList: Complete\r\nListItems: 0\r\n\r\n".encode())
        else:
            writer.write(f"Response: Success\r\n{head}\r\n".encode())

    async def burst(self) -> float:
        writer = self.writer
        assert writer is not None
        chunk: list[bytes] = []
        size = 0
        for frame in self.frames:
            chunk.append(frame)
            size += len(frame)
            if size >= 1 << 16:
                writer.write(b"".join(chunk))
                chunk, size = [], 0
                await writer.drain()
        writer.write(b"".join(chunk))
        await writer.drain()
        return time.monotonic()

    async def paced(self, rate: float) -> float:
        writer = self.writer
        assert writer is not None
        start = time.monotonic()
        for i, frame in enumerate(self.frames):
            due = start + i / rate
            now = time.monotonic()
            if due > now + 0.0005:
                await asyncio.sleep(due - now)
            writer.write(frame[:-2] + f"X-Sent: {time.monotonic():.6f}\r\n\r\n".encode())
        await writer.drain()
        return time.monotonic()


async def main(frames: list[bytes]) -> None:
    server = Server(frames)
    listener = await asyncio.start_server(server.client, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = (await stdin.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "go":
            await server.connected.wait()
            if server.frames and b"@NOW@" in server.frames[0]:
                # "raised at once": every frame stamped with the moment the burst begins
                now = f"{time.time():.6f}".encode()
                server.frames = [f.replace(b"@NOW@", now) for f in server.frames]
            print(f"started {time.monotonic():.6f}", flush=True)
            end = await (server.paced(float(line[2])) if line[1] == "paced" else server.burst())
            print(f"sent {end:.6f}", flush=True)
        elif line[0] == "hangups":
            print(f"hangups {json.dumps(server.hangups)}", flush=True)
    listener.close()


if __name__ == "__main__":
    asyncio.run(main(frames_of(Path(sys.argv[1]).read_bytes())))
