#!/usr/bin/env python3
"""Benchmark peer for bench/http: an OpenAI-style server that answers every request after a
fixed delay (default 200 ms), so the client's throughput can be compared with the ideal
concurrency / latency. asyncio with a minimal HTTP/1.1 keep-alive parser, so one Python
process serves hundreds of connections at once; it is not a test of any real server.

Prints "PORT <n>" on stdout, then serves on 127.0.0.1 until stdin reaches EOF or it is killed.
"""
import argparse
import asyncio
import json
import os
import sys

BODY = json.dumps({
    "id": "bench", "object": "chat.completion", "model": "bench-model",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant",
                             "content": "タスク1: 日本の四季について説明してください。\n入力: なし\n"
                                        "出力: 日本には春夏秋冬の四つの季節があります。" * 3}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 90, "total_tokens": 210},
}, ensure_ascii=False).encode()
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % len(BODY)) + BODY


class Conn(asyncio.Protocol):
    delay = 0.2

    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        loop = asyncio.get_running_loop()
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            loop.call_later(self.delay, self.reply)

    def reply(self):
        if not self.t.is_closing():
            self.t.write(RESP)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, default=200)
    args = ap.parse_args()
    Conn.delay = args.delay_ms / 1000.0
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Conn, "127.0.0.1", 0, backlog=1024)
    print("PORT %d" % srv.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # EOF: the bench is gone
    os._exit(0)


asyncio.run(main())
