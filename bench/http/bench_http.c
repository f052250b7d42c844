/* bench/http: throughput of the OpenAI-compatible backend.
 *
 * Part 1 drives the backend against bench/http/stub_async.py, which answers every request after
 * a fixed 200 ms: requests/s at concurrency 1, 8, 64, 256 next to the ideal (concurrency /
 * latency), and this process's CPU time per request (getrusage; the stub is another process).
 * Part 2 drives it against the real llama-server with the default model at --parallel 1, 2, 4
 * and prints generated tokens/s next to the embedded llama.cpp backend at the same parallelism.
 *
 * usage: bench_http [--stub-only | --llama-only] [--llama-requests N] */
#include "isynth/isynth.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

#include "../../tests/child.h"

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static bool healthy(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 5L);
    long code = 0;
    bool ok = curl_easy_perform(e) == CURLE_OK &&
              curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200;
    curl_easy_cleanup(e);
    return ok;
}

/* ---- running a batch of requests through any backend ---- */

typedef struct tally {
    long ok, failed, tokens;
    const char *first_error;
    char err[256];
} tally;

static isynth_err on_result(void *user, const isynth_gen_result *r, isynth_error *err)
{
    (void)err;
    tally *t = user;
    if (r->status == ISYNTH_OK) {
        t->ok++;
        t->tokens += r->completion_tokens;
    } else {
        t->failed++;
        if (!t->first_error) {
            snprintf(t->err, sizeof t->err, "%s", r->error ? r->error : "?");
            t->first_error = t->err;
        }
    }
    return ISYNTH_OK;
}

static const char *topics[] = {"日本の四季", "富士山",       "お茶の淹れ方",   "電車の乗り方",
                               "和食の基本", "俳句の作り方", "温泉の楽しみ方", "桜の名所"};

/* Submits n requests and steps until all are back; returns wall seconds. */
static double run(isynth_backend *b, int n, int max_tokens, tally *t)
{
    static char content[4096][160];
    static isynth_msg msgs[4096][1];
    int next = 0;
    double t0 = now_s();
    while (t->ok + t->failed < n) {
        while (next < n && isynth_backend_capacity(b) > 0) {
            snprintf(content[next % 4096], sizeof content[0],
                     "%sについて、初心者向けの質問を五つ、番号付きで書いてください。(%d)",
                     topics[next % 8], next);
            msgs[next % 4096][0] = (isynth_msg){"user", content[next % 4096]};
            isynth_gen_req req = {.id = (uint64_t)next,
                                  .chat = true,
                                  .msgs = msgs[next % 4096],
                                  .n_msgs = 1,
                                  .max_tokens = max_tokens,
                                  .temperature = 0.8f,
                                  .top_p = 0.95f,
                                  .seed = (uint64_t)next + 1};
            isynth_error err;
            if (isynth_backend_submit(b, &req, &err)) {
                fprintf(stderr, "submit: %s\n", err.msg);
                exit(1);
            }
            next++;
        }
        isynth_error err;
        if (isynth_backend_step(b, on_result, t, &err)) {
            fprintf(stderr, "step: %s\n", err.msg);
            exit(1);
        }
    }
    return now_s() - t0;
}

static isynth_backend *openai_backend(int port, int concurrency, const char *model,
                                      double total_timeout)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    const char *urls[1] = {url};
    isynth_openai_params p = isynth_openai_params_default();
    p.base_urls = urls;
    p.n_base_urls = 1;
    p.model = model;
    p.concurrency = concurrency;
    p.total_timeout = total_timeout;
    isynth_backend *b;
    isynth_error err;
    if (isynth_openai_backend_new(&p, &b, &err)) {
        fprintf(stderr, "openai backend: %s\n", err.msg);
        exit(1);
    }
    return b;
}

/* ---- part 1: the fixed-latency stub ---- */

static int bench_stub(void)
{
    char *argv[] = {(char *)ISYNTH_PYTHON, (char *)ISYNTH_BENCH_STUB, "--delay-ms", "200", NULL};
    child stub = {0};
    int out;
    stub.pid = spawn(argv, &stub.stdin_fd, &out, "bench-http-stub.log");
    char line[64] = {0};
    size_t got = 0;
    struct pollfd pfd = {.fd = out, .events = POLLIN};
    while (stub.pid > 0 && got < sizeof line - 1 && !strchr(line, '\n') &&
           poll(&pfd, 1, 20000) > 0) {
        ssize_t r = read(out, line + got, sizeof line - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (sscanf(line, "PORT %d", &stub.port) != 1) {
        fprintf(stderr, "cannot start %s (see bench-http-stub.log)\n", ISYNTH_BENCH_STUB);
        close(out);
        stop_child(&stub);
        return 1;
    }
    const double latency = 0.200;
    static const int conc[] = {1, 8, 64, 256};
    printf("HTTP backend vs a stub answering after %.0f ms (one client thread, keep-alive)\n\n",
           latency * 1000);
    printf("| concurrency | requests | seconds | req/s | ideal req/s | ratio | CPU ms/request |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    int rc = 0;
    for (size_t i = 0; i < sizeof conc / sizeof conc[0]; i++) {
        int c = conc[i];
        int n = c == 1 ? 25 : c * 10;
        isynth_backend *b = openai_backend(stub.port, c, "bench-model", 30);
        tally warm = {0};
        run(b, c, 64, &warm); /* open the connections: keep-alive is the steady state */
        tally t = {0};
        double cpu0 = cpu_s();
        double wall = run(b, n, 64, &t);
        double cpu = cpu_s() - cpu0;
        isynth_backend_free(b);
        double rps = n / wall, ideal = c / latency;
        printf("| %d | %d | %.2f | %.1f | %.1f | %.3f | %.3f |\n", c, n, wall, rps, ideal,
               rps / ideal, cpu * 1000 / n);
        fflush(stdout);
        if (t.failed || warm.failed) {
            fprintf(stderr, "%ld requests failed: %s\n", t.failed + warm.failed,
                    t.first_error ? t.first_error : warm.first_error);
            rc = 1;
        }
    }
    printf("\ntargets: ratio >= 0.9 up to 256, CPU < 0.5 ms/request\n\n");
    stop_child(&stub);
    close(out);
    return rc;
}

/* ---- part 2: llama-server vs the embedded backend ---- */

static int bench_llama(int per_slot)
{
    if (!*ISYNTH_LLAMA_SERVER || !*ISYNTH_MODEL || access(ISYNTH_LLAMA_SERVER, X_OK) ||
        access(ISYNTH_MODEL, R_OK)) {
        printf("llama-server part skipped: ISYNTH_LLAMA_SERVER / ISYNTH_MODEL not available\n");
        return 0;
    }
    const int max_tokens = 96;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char threads[24];
    snprintf(threads, sizeof threads, "%ld", ncpu > 0 ? ncpu : 1);
    printf("Generated tokens/s, default model (%s), %d requests per slot, max_tokens %d, "
           "%s threads\n\n",
           strrchr(ISYNTH_MODEL, '/') ? strrchr(ISYNTH_MODEL, '/') + 1 : ISYNTH_MODEL, per_slot,
           max_tokens, threads);
    printf("| parallel | llama-server via HTTP tok/s | embedded llama.cpp tok/s | HTTP / "
           "embedded |\n");
    printf("|---:|---:|---:|---:|\n");
    int rc = 0;
    for (int par = 1; par <= 4; par *= 2) {
        int n = per_slot * par;
        child srv = {0};
        srv.port = free_port();
        char port[16], parallel[16], ctx[16];
        snprintf(port, sizeof port, "%d", srv.port);
        snprintf(parallel, sizeof parallel, "%d", par);
        snprintf(ctx, sizeof ctx, "%d", 2048 * par);
        char *argv[] = {(char *)ISYNTH_LLAMA_SERVER,
                        "-m",
                        (char *)ISYNTH_MODEL,
                        "--parallel",
                        parallel,
                        "--port",
                        port,
                        "--host",
                        "127.0.0.1",
                        "-c",
                        ctx,
                        "-t",
                        threads,
                        NULL};
        srv.pid = spawn(argv, &srv.stdin_fd, NULL, "llama-server-bench.log");
        double t0 = now_s();
        while (!healthy(srv.port) && now_s() - t0 < 180 && waitpid(srv.pid, NULL, WNOHANG) == 0)
            usleep(200000);
        double http_tps = 0;
        if (healthy(srv.port)) {
            isynth_backend *b = openai_backend(srv.port, par, "default", 900);
            tally t = {0};
            double wall = run(b, n, max_tokens, &t);
            isynth_backend_free(b);
            http_tps = t.tokens / wall;
            if (t.failed) {
                fprintf(stderr, "llama-server: %ld failed: %s\n", t.failed, t.first_error);
                rc = 1;
            }
        } else {
            fprintf(stderr, "llama-server --parallel %d did not start (llama-server-bench.log)\n",
                    par);
            rc = 1;
        }
        stop_child(&srv);

        isynth_llama_params lp = isynth_llama_params_default();
        lp.model_path = ISYNTH_MODEL;
        lp.parallel = par;
        lp.n_threads = (int)(ncpu > 0 ? ncpu : 1);
        isynth_backend *lb;
        isynth_error err;
        double emb_tps = 0;
        if (isynth_llama_backend_new(&lp, &lb, &err) == ISYNTH_OK) {
            tally t = {0};
            double wall = run(lb, n, max_tokens, &t);
            isynth_backend_free(lb);
            emb_tps = t.tokens / wall;
        } else {
            fprintf(stderr, "embedded backend: %s\n", err.msg);
            rc = 1;
        }
        printf("| %d | %.1f | %.1f | %.2f |\n", par, http_tps, emb_tps,
               emb_tps > 0 ? http_tps / emb_tps : 0);
        fflush(stdout);
    }
    printf("\n");
    return rc;
}

int main(int argc, char **argv)
{
    bool stub = true, llama = true;
    int per_slot = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stub-only"))
            llama = false;
        else if (!strcmp(argv[i], "--llama-only"))
            stub = false;
        else if (!strcmp(argv[i], "--llama-requests") && i + 1 < argc)
            per_slot = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_http [--stub-only | --llama-only] "
                            "[--llama-requests N]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 0;
    if (stub) rc |= bench_stub();
    if (llama) rc |= bench_llama(per_slot > 0 ? per_slot : 1);
    curl_global_cleanup();
    return rc;
}
