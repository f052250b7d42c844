#!/usr/bin/env python3
"""Fault-injecting stand-in for an OpenAI-compatible server, for isynth's HTTP tests.

It exists ONLY to inject the faults a real server will not produce on demand (429 with
Retry-After, 500, truncated JSON in a 200, a body that stalls, a reset connection, a server
that always fails, a body over the size limit, a server that rejects response_format with a
400). It is a fault-injecting test double, not a model: everything that a real server can show
is tested against the real llama-server instead (tests/http.cmake, tests/judge.cmake).

Standard library only: http.server's ThreadingHTTPServer on 127.0.0.1, port 0 unless --port;
the chosen port is printed on stdout as the first line ("PORT <n>"), then the server runs until
killed (or until stdin reaches EOF with --exit-on-stdin-eof, so a crashed test never leaves it
behind).

The fault is chosen by the first path segment: POST /<mode>/v1/chat/completions or
/<mode>/v1/completions; /v1/... alone is mode "ok". A mode is one or more flags joined by "+"
("tasks+slow200+e500+trunc"). For flags that fail "once", the first attempt of each distinct
request body fails and later attempts succeed, so a client that retries sees exactly one
failure per request whatever the concurrency; with several such flags each body meets one of
them, chosen by its hash.

  ok       normal answer ("echo: " + last message / prompt); finish_reason "length" when
           max_tokens <= 4
  slowN    answer after N ms (slow300)
  ra429    once: 429 with Retry-After: 1
  e500     once: 500 with a JSON error
  trunc    once: 200 whose JSON is cut in the middle (Content-Length matches the cut body)
  stall    once: 200 headers and half a body, then nothing for 30 s
  reset    once: half a response, then a TCP reset (SO_LINGER 0)
  reset0   once: a TCP reset before any response byte
  fail500  always 500
  big      a 2 MiB answer
  tasks    a canned Japanese Self-Instruct answer with 3 numbered tasks, different per body;
           as the JSON object {"tasks": [...]} when the body has response_format, as a server
           enforcing the reply's schema does
  nofmt    always: 400 naming response_format when the body has "response_format" or
           "json_schema", as a server without structured output does
  judge    a canned judge reply: the JSON object alone when the body has response_format,
           else the object inside Japanese prose and a ```json fence (score from the body's hash)
  badusage usage with a negative prompt_tokens and a completion_tokens of 2^62
  drip     with "stream": a 5 ms pause before each event (so a client's cancel is seen)

A body with "stream": true is answered as a real server streams: server-sent events over
chunked transfer, 3 characters of text per event, a last event with finish_reason, a usage
event when stream_options.include_usage, then "data: [DONE]". The once faults apply to streams
too: trunc ends the chunked body cleanly after half the events (no finish, no [DONE]), stall
pauses there, reset resets the connection there.

Every mode answers 404 with an OpenAI-style {"error":{"message"}} when "model" is not the
--model name, and 401 when --api-key is set and the bearer token differs (the message echoes
the token, as some servers do, so tests can check that the client redacts it).

GET /stats returns {"hits": {mode: n}, "max_concurrent": {mode: n}, "formats": {mode: n}}
("formats": requests whose body carried response_format or json_schema), "streams" (requests
with "stream": true) and "aborted" (streams the client closed before their end); POST /reset
clears it.
"""
import argparse
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
HITS = {}
INFLIGHT = {}
MAXC = {}
FORMATS = {}
ATTEMPTS = {}
STREAMS = {}
ABORTED = {}
ARGS = None

ONCE_MODES = {"ra429", "e500", "trunc", "stall", "reset", "reset0"}

# Nouns for the "tasks" answers. A task is a random run of them with a short frame, so that
# tasks from different requests are far apart in ROUGE-L and pass isynth's filters.
NOUNS = ("東京 大阪 京都 奈良 札幌 仙台 横浜 名古屋 神戸 広島 福岡 長崎 熊本 沖縄 金沢 函館 "
         "桜 紅葉 雪 台風 梅雨 花火 祭り 温泉 寺院 神社 城 港 鉄道 新幹線 自転車 飛行機 "
         "味噌 醤油 豆腐 納豆 寿司 天ぷら 蕎麦 饅頭 抹茶 煎茶 昆布 海苔 梅干し 漬物 "
         "俳句 短歌 落語 歌舞伎 能楽 茶道 華道 書道 柔道 剣道 相撲 将棋 囲碁 折り紙 "
         "経済 金融 税金 保険 年金 選挙 憲法 裁判 条約 貿易 物流 農業 漁業 林業 工業 "
         "数学 物理 化学 生物 地学 歴史 地理 哲学 倫理 言語 方言 敬語 漢字 仮名 文法 "
         "医療 看護 薬局 病院 介護 育児 教育 大学 書店 博物館 美術館 公園 森林 河川 "
         "火山 地震 津波 防災 避難 節電 省エネ 再生 資源 廃棄物 水道 電力 通信 郵便 "
         "キャンプ ハイキング マラソン サッカー 野球 テニス 卓球 水泳 スキー 登山 "
         "ロボット センサー 半導体 電池 暗号 検索 翻訳 辞書 手帳 時計 眼鏡 財布 傘").split()


def tasks_text(seed_bytes, constrained=False):
    rnd = random.Random(hashlib.sha256(seed_bytes).digest())
    out = []
    for i in range(3):
        w = rnd.sample(NOUNS, 8)
        out.append(("%s%sと%s%s%sを比べよ。" % (w[0], w[1], w[2], w[3], w[4]),
                    "%s%sは%s%sに近い。" % (w[5], w[6], w[0], w[7])))
    if constrained:
        return json.dumps({"tasks": [{"instruction": a, "input": "", "output": b}
                                     for a, b in out]}, ensure_ascii=False)
    return "\n\n".join("タスク%d: %s\n入力: なし\n出力: %s" % (i + 1, a, b)
                       for i, (a, b) in enumerate(out))


def judge_text(seed_bytes, constrained):
    score = 1 + int(hashlib.sha256(seed_bytes).hexdigest(), 16) % 5
    obj = json.dumps({"score": score, "reason": "指示は明確で、出力もおおむね正しい。",
                      "false_claims": [] if score > 2 else ["富士山の標高は4000メートルである。"]},
                     ensure_ascii=False)
    if constrained:
        return obj
    return "採点しました。{理由は下に書きます}\n```json\n%s\n```\n以上です。" % obj


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj, headers=()):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def rst(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                self.send_json(200, {"hits": HITS, "max_concurrent": MAXC, "formats": FORMATS,
                                     "streams": STREAMS, "aborted": ABORTED})
        elif self.path in ("/health", "/v1/models"):
            self.send_json(200, {"status": "ok", "data": [{"id": ARGS.model}]})
        else:
            self.send_json(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.path == "/reset":
            with LOCK:
                HITS.clear(); MAXC.clear(); ATTEMPTS.clear(); INFLIGHT.clear(); FORMATS.clear()
                STREAMS.clear(); ABORTED.clear()
            self.send_json(200, {"ok": True})
            return
        parts = self.path.strip("/").split("/")
        if parts and parts[0] == "v1":
            parts.insert(0, "ok")
        if len(parts) < 3 or parts[1] != "v1" or parts[2] not in ("chat", "completions"):
            self.send_json(404, {"error": {"message": "no such path: " + self.path}})
            return
        mode, chat = parts[0], parts[2] == "chat"
        with LOCK:
            HITS[mode] = HITS.get(mode, 0) + 1
            INFLIGHT[mode] = INFLIGHT.get(mode, 0) + 1
            MAXC[mode] = max(MAXC.get(mode, 0), INFLIGHT[mode])
            key = (mode, hashlib.sha1(raw).hexdigest())
            ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
            attempt = ATTEMPTS[key]
        try:
            self.answer(mode, chat, raw, attempt)
        finally:
            with LOCK:
                INFLIGHT[mode] -= 1

    def answer(self, mode, chat, raw, attempt):
        try:
            req = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"message": "request body is not JSON"}})
            return
        if ARGS.api_key:
            auth = self.headers.get("Authorization", "")
            if auth != "Bearer " + ARGS.api_key:
                token = auth[len("Bearer "):] if auth.startswith("Bearer ") else auth
                self.send_json(401, {"error": {"message": "Incorrect API key provided: " + token,
                                               "type": "invalid_request_error"}})
                return
        if req.get("model") != ARGS.model:
            self.send_json(404, {"error": {"message": "The model `%s` does not exist."
                                           % req.get("model"), "type": "NotFoundError",
                                           "code": 404}})
            return
        flags = set(mode.split("+"))
        constrained = "response_format" in req or "json_schema" in req
        if constrained:
            with LOCK:
                FORMATS[mode] = FORMATS.get(mode, 0) + 1
        if "nofmt" in flags and constrained:
            self.send_json(400, {"error": {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not "
                           "supported with this model.",
                "type": "invalid_request_error", "param": "response_format", "code": None}})
            return
        faults = flags & ONCE_MODES
        if len(faults) > 1:
            # several "once" faults: each distinct body meets one of them, chosen by its hash
            faults = {sorted(faults)[int(hashlib.sha1(raw).hexdigest(), 16) % len(faults)]}
        once = attempt == 1 and faults
        fault = next(iter(faults)) if once else None
        for f in flags:
            if f.startswith("slow"):
                time.sleep(int(f[4:] or "300") / 1000.0)
        if "fail500" in flags or fault == "e500":
            self.send_json(500, {"error": {"message": "internal boom (%s)" % mode}})
            return
        if fault == "ra429":
            self.send_json(429, {"error": {"message": "rate limited, slow down"}},
                           headers=[("Retry-After", "1")])
            return
        if fault == "reset0":
            self.rst()
            return
        if chat:
            msgs = req.get("messages") or [{}]
            src = msgs[-1].get("content", "")
            ptoks = sum(len(m.get("content", "")) for m in msgs)
        else:
            src = req.get("prompt", "")
            ptoks = len(src)
        text = "echo: " + src
        if "big" in flags:
            text = "x" * (2 << 20)
        elif "tasks" in flags:
            text = tasks_text(raw, constrained)
        elif "judge" in flags:
            text = judge_text(raw, constrained)
        mt = req.get("max_tokens")
        finish = "length" if isinstance(mt, int) and mt <= 4 else "stop"
        choice = {"index": 0, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        obj = {"id": "stub-1", "object": "chat.completion" if chat else "text_completion",
               "model": ARGS.model, "choices": [choice],
               "usage": {"prompt_tokens": ptoks, "completion_tokens": len(text),
                         "total_tokens": ptoks + len(text)}}
        if req.get("stream") is True:
            with LOCK:
                STREAMS[mode] = STREAMS.get(mode, 0) + 1
            self.stream(mode, chat, text, finish, obj["usage"], req, fault, flags)
            return
        if "badusage" in flags:
            obj["usage"] = {"prompt_tokens": -5, "completion_tokens": 1 << 62,
                            "total_tokens": -7}
        body = json.dumps(obj, ensure_ascii=False).encode()
        if fault in ("trunc", "stall", "reset"):
            half = body[: len(body) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(half) if fault == "trunc" else len(body)))
            self.end_headers()
            self.wfile.write(half)
            self.wfile.flush()
            if fault == "stall":
                time.sleep(30)
                self.close_connection = True
            elif fault == "reset":
                self.rst()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


    def stream(self, mode, chat, text, finish, usage, req, fault, flags):
        kind = "chat.completion.chunk" if chat else "text_completion"
        events = []
        for i in range(0, len(text), 3):
            piece = text[i:i + 3]
            ch = {"index": 0, "finish_reason": None}
            if chat:
                ch["delta"] = {"content": piece} if i else {"role": "assistant", "content": piece}
            else:
                ch["text"] = piece
            events.append({"id": "stub-1", "object": kind, "model": ARGS.model, "choices": [ch]})
        last = {"index": 0, "finish_reason": finish}
        last["delta" if chat else "text"] = {} if chat else ""
        events.append({"id": "stub-1", "object": kind, "model": ARGS.model, "choices": [last]})
        if (req.get("stream_options") or {}).get("include_usage"):
            events.append({"id": "stub-1", "object": kind, "model": ARGS.model, "choices": [],
                           "usage": usage})
        lines = [("data: %s\n\n" % json.dumps(e, ensure_ascii=False)).encode() for e in events]
        lines.append(b"data: [DONE]\n\n")
        if fault in ("trunc", "stall", "reset"):
            lines = lines[: len(lines) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for ln in lines:
                if "drip" in flags:
                    time.sleep(0.005)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ln), ln))
                self.wfile.flush()
            if fault == "stall":
                time.sleep(30)
                self.close_connection = True
                return
            if fault == "reset":
                self.rst()
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with LOCK:
                ABORTED[mode] = ABORTED.get(mode, 0) + 1
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # resets and client aborts are the point here


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--model", default="test-model")
    ap.add_argument("--api-key", default="")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ARGS = ap.parse_args()
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    if ARGS.exit_on_stdin_eof:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
