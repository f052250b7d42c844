/* The model a command talks to, chosen the same way by every command that has one: a GGUF
 * file through embedded llama.cpp (--model, $ISYNTH_MODEL, else the default model under
 * ~/.cache/isynth), or OpenAI-compatible servers (--api-base, --api-model, the key from a file
 * or $OPENAI_API_KEY). Messages name the command. */
#include "cli.h"
#include "isynth/openai.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MODEL_FILE "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

cli_backend_opts cli_backend_opts_default(void)
{
    return (cli_backend_opts){
        .lp = isynth_llama_params_default(),
        .op = isynth_openai_params_default(),
    };
}

char *cli_read_small_file(const char *cmd, const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "isynth %s: %s %s: %s\n", cmd, what, path, strerror(errno));
        return NULL;
    }
    char *data = malloc(1 << 20);
    size_t n = data ? fread(data, 1, (1 << 20) - 1, f) : 0;
    bool too_big = data && n == (1 << 20) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (!data || too_big) {
        fprintf(stderr, "isynth %s: %s %s: larger than 1 MiB\n", cmd, what, path);
        free(data);
        return NULL;
    }
    data[n] = '\0';
    return data;
}

static char *trim_key(char *k)
{
    size_t n = strlen(k);
    while (n && (k[n - 1] == '\n' || k[n - 1] == '\r' || k[n - 1] == ' '))
        k[--n] = '\0';
    return k;
}

/* Splits a comma-separated list in place; returns the count (at most max). */
static size_t split_commas(char *s, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        if (*tok) out[n++] = tok;
    return n;
}

/* $ISYNTH_CACHE/models/<default>, the cache the set-up fills ($ISYNTH_CACHE defaults to
 * ~/.cache/isynth, as in scripts/setup.sh). */
char *cli_default_model(void)
{
    const char *cache = getenv("ISYNTH_CACHE"), *home = getenv("HOME");
    bool own = cache && *cache;
    const char *base = own ? cache : home ? home : "";
    const char *mid = own ? "/models/" : "/.cache/isynth/models/";
    size_t n = strlen(base) + strlen(mid) + sizeof DEFAULT_MODEL_FILE;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s" DEFAULT_MODEL_FILE, base, mid);
    return p;
}

int cli_backend_new(const char *cmd, cli_backend_opts *o, bool quiet, isynth_backend **be)
{
    *be = NULL;
    isynth_error err;
    isynth_error_clear(&err);
    isynth_err rc;
    if (o->api_bases && o->model) {
        fprintf(stderr, "isynth %s: --model and --api-base exclude each other\n", cmd);
        return EXIT_USAGE;
    }
    if (o->api_bases && !o->op.model) {
        fprintf(stderr, "isynth %s: --api-base needs --api-model\n", cmd);
        return EXIT_USAGE;
    }
    if (o->api_bases) {
        const char *urls[64];
        char *key = NULL;
        o->op.n_base_urls = split_commas(o->api_bases, urls, 64);
        o->op.base_urls = urls;
        if (o->key_file) {
            if (!(key = cli_read_small_file(cmd, o->key_file, "API key file"))) return EXIT_INPUT;
            o->op.api_key = trim_key(key);
        } else if (getenv("OPENAI_API_KEY")) {
            o->op.api_key = getenv("OPENAI_API_KEY");
        }
        rc = isynth_openai_backend_new(&o->op, be, &err);
        o->op.base_urls = NULL;
        o->op.api_key = NULL;
        free(key);
    } else {
        const char *model = o->model;
        char *def = NULL;
        if (!model) model = getenv("ISYNTH_MODEL");
        if (!model || !*model) {
            model = def = cli_default_model();
            if (!model || access(model, R_OK) != 0) {
                fprintf(stderr,
                        "isynth %s: no model given and %s is missing: run scripts/setup.sh or "
                        "pass --model PATH\n",
                        cmd, model ? model : "the default model");
                free(def);
                return EXIT_USAGE;
            }
        }
        o->lp.model_path = model;
        if (!quiet) fprintf(stderr, "isynth: loading %s\n", model);
        rc = isynth_llama_backend_new(&o->lp, be, &err);
        o->lp.model_path = NULL;
        free(def);
    }
    if (rc) {
        fprintf(stderr, "isynth %s: %s\n", cmd, err.msg[0] ? err.msg : isynth_strerror(rc));
        return rc == ISYNTH_ERR_INVALID ? EXIT_USAGE : EXIT_FAILURE_RUN;
    }
    return EXIT_OK;
}
