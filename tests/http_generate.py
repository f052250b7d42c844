#!/usr/bin/env python3
"""End-to-end tests of `isynth generate` over HTTP (issue 5), driven by tests/http.cmake.

  faults  through tests/http_stub.py: once-per-request faults (500, 429 + Retry-After,
          truncated JSON, reset connection) are retried and the run reaches its count; a
          server that always fails next to a good one leaves its failures recorded in run.db
          while the run goes on; a wrong model name fails every request without retry, each
          recorded with the server's message; the API key from OPENAI_API_KEY never reaches
          run.db, the dataset or the card.
  kill    through the stub (slow answers, 500s): SIGKILL mid-run, then the same command again:
          nothing accepted before the kill is lost, nothing is duplicated, the count is met.
  sigint  through the stub: SIGINT mid-run exits 130 with data.jsonl and the card written for
          the rows accepted so far, and no temporary left; the same command again finishes.
  llama   through the real llama-server (same llama.cpp source, default model, --parallel 4,
          127.0.0.1, ephemeral port): a full run, with usage recorded per request.

Every server started here is stopped whatever the outcome. Standard library only.
"""
import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

KEY = "sk-isynth-test-SECRET-5150"


def die_with_parent():
    """In the child before exec: SIGKILL when this driver dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Server:
    """A child server on 127.0.0.1 that is always stopped (context manager)."""

    def __init__(self, argv, port=None, log=None):
        self.argv, self.port, self.log = argv, port, log
        self.proc = None

    def __enter__(self):
        out = subprocess.PIPE if self.port is None else open(self.log or os.devnull, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=out,
                                     stderr=subprocess.STDOUT if self.port else None,
                                     preexec_fn=die_with_parent)
        if self.port is None:
            line = self.proc.stdout.readline().decode()
            assert line.startswith("PORT "), "stub did not start: %r" % line
            self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def stub(args):
    return Server([sys.executable, args.stub, "--exit-on-stdin-eof"])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def generate(args, out, n, bases, model="test-model", extra=(), env_key=KEY, wait=True):
    cmd = [args.isynth, "generate", "--seeds", args.seeds, "--out", out, "-n", str(n),
           "--api-base", ",".join(bases), "--api-model", model, "--concurrency", "4", "-q"]
    cmd += list(extra)
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    if env_key:
        env["OPENAI_API_KEY"] = env_key
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=die_with_parent)
    if not wait:
        return p
    o, e = p.communicate(timeout=args.timeout)
    return p.returncode, o.decode(), e.decode()


def db(out):
    c = sqlite3.connect("file:%s/run.db?mode=ro" % out, uri=True, timeout=30)
    return c


def accepted(out):
    with db(out) as c:
        return [r[0] for r in c.execute(
            "SELECT instruction FROM candidates WHERE status='accepted' ORDER BY id")]


def check_dataset(out, n):
    rows = [json.loads(l) for l in open(os.path.join(out, "data.jsonl"), encoding="utf-8")]
    acc = accepted(out)
    assert len(rows) == n, "data.jsonl has %d rows, want %d" % (len(rows), n)
    assert len(acc) == n, "run.db has %d accepted, want %d" % (len(acc), n)
    texts = [json.dumps(r, ensure_ascii=False) for r in rows]
    for a in acc:
        assert any(json.dumps(a, ensure_ascii=False)[1:-1] in t for t in texts), \
            "accepted row missing from data.jsonl: %s" % a
    return acc


def no_key_anywhere(out):
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert KEY.encode() not in f.read(), "API key found in " + name


def test_faults(args, work):
    with stub(args) as s:
        # 1. once-per-request faults, all retried
        out = os.path.join(work, "faults")
        # (JSON replies under a schema, which the stub answers as {"tasks": [...]})
        rc, o, e = generate(args, out, 20, [s.url("/tasks+e500+ra429+trunc+reset")],
                            extra=["--json-schema"])
        assert rc == 0, "exit %d: %s" % (rc, e)
        check_dataset(out, 20)
        with db(out) as c:
            st = dict(c.execute("SELECT status, count(*) FROM requests GROUP BY status"))
            retries = c.execute("SELECT sum(retries) FROM requests").fetchone()[0]
            nreq = st.get("done", 0)
            assert st.get("failed", 0) == 0, st
            # every request met exactly one fault on its first attempt
            assert retries == nreq, "retries %s for %d requests" % (retries, nreq)
            tok = c.execute("SELECT min(prompt_tokens), min(completion_tokens) FROM requests"
                            ).fetchone()
            assert tok[0] > 0 and tok[1] > 0, tok
        no_key_anywhere(out)
        print("faults: 20 accepted, %d requests, %d retries" % (nreq, retries))

        # 2. one server always failing next to a good one, no retries: failures recorded
        out = os.path.join(work, "failover")
        rc, o, e = generate(args, out, 20, [s.url("/fail500"), s.url("/tasks")],
                            extra=["--max-retries", "0"])
        assert rc == 0, "exit %d: %s" % (rc, e)
        check_dataset(out, 20)
        with db(out) as c:
            failed = c.execute("SELECT error FROM requests WHERE status='failed'").fetchall()
            done = c.execute("SELECT count(*) FROM requests WHERE status='done'").fetchone()[0]
        assert 1 <= len(failed) <= 3 + 4, "failed requests: %d" % len(failed)
        for (err,) in failed:
            assert "HTTP 500" in err and "internal boom" in err, err
        # each request records the server that answered it: the report's per-server chart
        with db(out) as c:
            per = c.execute("SELECT server, status, count(*) FROM requests GROUP BY 1, 2"
                            ).fetchall()
        for server, status, n in per:
            assert server is not None, per
            assert ("fail500" in server) == (status == "failed"), per
        report = open(os.path.join(out, "report.html"), encoding="utf-8").read()
        assert "fail500" in report and "/tasks" in report, "servers missing from the report"
        print("failover: 20 accepted, %d done, %d failed and recorded" % (done, len(failed)))

        # 3. a wrong model name: every request fails at once, with the server's message
        out = os.path.join(work, "model")
        rc, o, e = generate(args, out, 5, [s.url("/tasks")], model="no-such-model",
                            extra=["--max-requests", "6"])
        assert rc == 4, "exit %d (want 4, request limit): %s" % (rc, e)
        with db(out) as c:
            rows = c.execute("SELECT status, retries, error FROM requests").fetchall()
        assert len(rows) == 6, rows
        for status, retries, err in rows:
            assert status == "failed" and retries == 0, (status, retries)
            assert "HTTP 404" in err and "The model `no-such-model` does not exist." in err, err
        assert accepted(out) == []
        no_key_anywhere(out)
        print("wrong model: 6 requests failed without retry, messages recorded")

        # 4. budgets through the command line: each stop has its exit code and message, and
        # the totals it stopped on are run.db's
        out = os.path.join(work, "budget")
        rc, o, e = generate(args, out, 500, [s.url("/tasks")],
                            extra=["--max-generated-tokens", "1"])
        assert rc == 5, "exit %d (want 5, token budget): %s" % (rc, e)
        assert "--max-generated-tokens" in e, e
        with db(out) as c:
            nreq, tok = c.execute("SELECT count(*), sum(completion_tokens) FROM requests"
                                  ).fetchone()
        assert 1 <= nreq <= 4 and tok >= 1, (nreq, tok)  # the requests in flight finish
        rc, o, e = generate(args, out, 500, [s.url("/tasks")],
                            extra=["--max-generated-tokens", "1"])
        assert rc == 5, "exit %d on the rerun: %s" % (rc, e)
        with db(out) as c:
            assert c.execute("SELECT count(*) FROM requests").fetchone()[0] == nreq
        st = subprocess.run([args.isynth, "status", "--run", out, "--json"],
                            capture_output=True, text=True, timeout=60)
        assert st.returncode == 0, st.stderr
        j = json.loads(st.stdout)
        assert j["requests"] == nreq and j["generated_tokens"] == tok and j["target"] == 500, j
        out = os.path.join(work, "cost")
        rc, o, e = generate(args, out, 500, [s.url("/tasks")],
                            extra=["--max-cost", "0.000001", "--price-out", "1"])
        assert rc == 6, "exit %d (want 6, cost budget): %s" % (rc, e)
        rc, o, e = generate(args, os.path.join(work, "noprice"), 5, [s.url("/tasks")],
                            extra=["--max-cost", "1"])
        assert rc == 2 and "--price" in e, (rc, e)
        print("budgets: exit 5 after %d requests (%d tokens), unchanged on a rerun; exit 6; "
              "a cost budget without a price refused" % (nreq, tok))


def test_kill(args, work):
    out = os.path.join(work, "kill")
    with stub(args) as s:
        bases = [s.url("/tasks+slow300+e500")]
        p = generate(args, out, 60, bases, wait=False)
        before = []
        t0 = time.time()
        while time.time() - t0 < 60 and p.poll() is None:
            time.sleep(0.2)
            try:
                before = accepted(out)
            except sqlite3.Error:
                continue
            if len(before) >= 12:
                break
        assert p.poll() is None, "run ended before the kill: %s" % p.communicate()[1]
        p.send_signal(signal.SIGKILL)
        p.wait()
        before = accepted(out)
        assert 0 < len(before) < 60, len(before)
        rc, o, e = generate(args, out, 60, bases)
        assert rc == 0, "rerun exit %d: %s" % (rc, e)
        after = check_dataset(out, 60)
        assert len(set(after)) == 60, "duplicates after rerun"
        missing = [a for a in before if a not in after]
        assert not missing, "lost after the kill: %s" % missing[:3]
        assert after[:len(before)] == before, "rows accepted before the kill changed"
    print("kill: %d accepted before SIGKILL, 60 after rerun, none lost or duplicated"
          % len(before))


def test_sigint(args, work):
    """Ctrl-C in the middle of a run: exit 130 with the exports written for what was accepted,
    and the same command again finishes the run with nothing lost or duplicated."""
    out = os.path.join(work, "sigint")
    with stub(args) as s:
        bases = [s.url("/tasks+slow300")]
        p = generate(args, out, 60, bases, wait=False)
        t0 = time.time()
        while time.time() - t0 < 60 and p.poll() is None:
            time.sleep(0.2)
            try:
                if len(accepted(out)) >= 6:
                    break
            except sqlite3.Error:
                continue
        assert p.poll() is None, "run ended before the signal: %s" % p.communicate()[1]
        p.send_signal(signal.SIGINT)
        o, e = p.communicate(timeout=60)
        assert p.returncode == 130, "exit %d after SIGINT: %s" % (p.returncode, e.decode())
        before = accepted(out)
        assert 0 < len(before) < 60, len(before)
        check_dataset(out, len(before))  # data.jsonl holds exactly the accepted rows
        assert os.path.isfile(os.path.join(out, "README.md")), "no card after SIGINT"
        assert not [n for n in os.listdir(out) if ".tmp" in n], os.listdir(out)
        rc, o, e = generate(args, out, 60, bases)
        assert rc == 0, "rerun exit %d: %s" % (rc, e)
        after = check_dataset(out, 60)
        assert after[:len(before)] == before, "rows accepted before the signal changed"
    print("sigint: exit 130 with %d rows exported, 60 after rerun" % len(before))


def test_llama(args, work):
    port = free_port()
    log = os.path.join(work, "llama-server.log")
    argv = [args.llama_server, "-m", args.model, "--parallel", "4", "--port", str(port),
            "--host", "127.0.0.1", "-c", "16384", "-t", str(os.cpu_count() or 2)]
    with Server(argv, port=port, log=log) as srv:
        t0 = time.time()
        while True:
            assert srv.proc.poll() is None, "llama-server exited, see " + log
            assert time.time() - t0 < 180, "llama-server not healthy after 180 s"
            try:
                with urllib.request.urlopen(srv.url("/health"), timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        out = os.path.join(work, "llama")
        rc, o, e = generate(args, out, 2, [srv.url("/v1/")], model="default",
                            extra=["--max-requests", "300", "--max-tokens", "256",
                                   "--seed", "3", "--two-stage"])
        assert rc == 0, "exit %d: %s" % (rc, e)
        acc = check_dataset(out, 2)
        with db(out) as c:
            st = c.execute("SELECT count(*), sum(prompt_tokens > 0), sum(completion_tokens > 0),"
                           " sum(completion_tokens) FROM requests WHERE status='done'").fetchone()
            failed = c.execute("SELECT count(*) FROM requests WHERE status='failed'").fetchone()
            # an answer caught in a loop is ended by its watcher and its stream cancelled, which
            # never gets the server's usage: those, and only those, have no prompt tokens (and
            # their rows are rejected: the loop is in the text)
            cut = c.execute("SELECT count(*) FROM requests r WHERE r.status='done' AND "
                            "r.prompt_tokens = 0").fetchone()[0]
            cut_loops = c.execute(
                "SELECT count(*) FROM requests r JOIN candidates c ON c.id = r.parent WHERE "
                "r.status='done' AND r.prompt_tokens = 0 AND r.stage = 2 AND "
                "c.status = 'rejected'").fetchone()[0]
        assert st[0] > 0 and st[1] + cut == st[0] and st[2] == st[0], (st, cut)
        assert cut == cut_loops, (cut, cut_loops)
        assert failed[0] == 0, failed
        no_key_anywhere(out)
        print("llama-server: %d accepted from %d requests, %d generated tokens; first: %s"
              % (len(acc), st[0], st[3], acc[0][:60]))
        # Magpie over the completions endpoint: the chat template named on the command line
        # (the server does not say its own) opens the user turn, the server reads the special
        # tokens' text as tokens, and the streamed turn is checked for its language
        out = os.path.join(work, "magpie")
        rc, o, e = generate(args, out, 1, [srv.url("/v1/")], model="default",
                            extra=["--method", "magpie", "--chat-template", "chatml",
                                   "--max-requests", "6", "--max-tokens", "256", "--seed", "3"])
        assert rc in (0, 4), "exit %d: %s" % (rc, e)
        with db(out) as c:
            prompts = [p for (p,) in c.execute(
                "SELECT prompt FROM requests WHERE stage=1 AND status='done'")]
            turns = [i for (i,) in c.execute(
                "SELECT c.instruction FROM candidates c JOIN requests r ON r.id = c.request_id "
                "WHERE r.stage = 1 AND coalesce(c.detail, '') NOT LIKE 'stopped early%'")]
        assert prompts and all(p.endswith("<|im_end|>\n<|im_start|>user\n") for p in prompts), \
            prompts
        assert not any("<|im_" in t for t in turns), turns
        kana = [t for t in turns if any("\u3041" <= ch <= "\u30fa" for ch in t)]
        assert kana, turns
        print("magpie over llama-server: %d user turns, %d in Japanese; first: %s"
              % (len(turns), len(kana), kana[0][:60]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=["faults", "kill", "sigint", "llama"])
    ap.add_argument("--isynth", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--stub", default=os.path.join(os.path.dirname(__file__), "http_stub.py"))
    ap.add_argument("--llama-server")
    ap.add_argument("--model")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    # SIGTERM (ctest, a user) unwinds the context managers, which stop the servers
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="isynth-http-") as work:
        {"faults": test_faults, "kill": test_kill, "sigint": test_sigint,
         "llama": test_llama}[args.test](args, work)
    print("ok")


if __name__ == "__main__":
    main()
