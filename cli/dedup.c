/* `isynth dedup`: a standalone near-duplicate remover for any JSONL dataset. Each record's text
 * field is compared (ROUGE-L F, Japanese-aware tokens) with every record kept before it; the
 * first occurrence wins. Output and report are written atomically; progress goes to stderr
 * when it is a terminal. */
#include "cli.h"
#include "internal.h"
#include "isynth/rouge.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE ((size_t)64 << 20)

static void help(FILE *f)
{
    fprintf(f, "usage: isynth dedup IN.jsonl -o OUT.jsonl [OPTIONS]\n\n"
               "Removes near-duplicates from a JSONL dataset: a record is dropped when the\n"
               "ROUGE-L F-measure of its text field against a record kept before it reaches the\n"
               "threshold. The first occurrence is kept; kept lines are copied unchanged.\n\n"
               "options:\n"
               "  -o, --output FILE      where the kept records go (required)\n"
               "  --field NAME           the string field compared (default instruction)\n"
               "  --threshold T          ROUGE-L F at which a record is a duplicate (default 0.7)\n"
               "  --tokenizer KIND       chars (default: each kanji/kana a token, Latin words\n"
               "                         whole), words (rouge-score's, English only) or mecab\n"
               "  --report FILE          JSONL, one line per removed record: its line and text,\n"
               "                         the kept line and text it duplicates, and the score\n"
               "  --dump-tokens FILE     JSONL of every record's tokens (for checks and studies)\n"
               "  -q, --quiet            no progress or summary on stderr\n\n"
               "exit codes: 0 done, 2 bad command line, 3 bad input (file and line named),\n"
               "1 I/O failure, 130 interrupted (no output file is left behind).\n");
}

typedef struct kept {
    char **text;
    long *line;
    size_t n, cap;
} kept;

static int push_kept(kept *k, const char *s, size_t len, long line)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        char **t = realloc(k->text, cap * sizeof *t);
        if (!t) return -1;
        k->text = t;
        long *l = realloc(k->line, cap * sizeof *l);
        if (!l) return -1;
        k->line = l;
        k->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    k->text[k->n] = c;
    k->line[k->n++] = line;
    return 0;
}

static int write_tokens(FILE *f, isynth_tokenizer *tok, long line, const uint32_t *ids, size_t n)
{
    buf b;
    buf_init(&b, 0);
    isynth_err rc = buf_printf(&b, "{\"line\":%ld,\"tokens\":[", line);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t len;
        const char *s = isynth_tokenizer_token(tok, ids[i], &len);
        if (i) rc = buf_addc(&b, ',');
        if (!rc) rc = buf_add_json_str(&b, s, len);
    }
    if (!rc) rc = buf_adds(&b, "]}\n");
    int bad = rc || fwrite(b.p, 1, b.len, f) != b.len;
    buf_free(&b);
    return bad ? -1 : 0;
}

static int write_report(FILE *f, long line, const char *text, size_t len, long kline,
                        const char *ktext, double score)
{
    buf b;
    buf_init(&b, 0);
    isynth_err rc = buf_printf(&b, "{\"line\":%ld,\"text\":", line);
    if (!rc) rc = buf_add_json_str(&b, text, len);
    if (!rc) rc = buf_printf(&b, ",\"kept_line\":%ld,\"kept_text\":", kline);
    if (!rc) rc = buf_add_json_str(&b, ktext, strlen(ktext));
    if (!rc) rc = buf_printf(&b, ",\"score\":%.17g}\n", score);
    int bad = rc || fwrite(b.p, 1, b.len, f) != b.len;
    buf_free(&b);
    return bad ? -1 : 0;
}

/* Reads one line (with its newline) into *line, never holding more than max + 1 bytes of it:
 * a longer line sets *too_long and stops there, before the rest is read. Returns the length,
 * or -1 at end of input (or on a read or memory error: ferror(in) or errno tell). */
static ssize_t read_line_capped(FILE *in, char **line, size_t *cap, size_t max, bool *too_long,
                                bool *nomem)
{
    size_t len = 0;
    int c;
    *too_long = *nomem = false;
    while ((c = getc_unlocked(in)) != EOF) {
        if (len == max) {
            *too_long = true;
            return (ssize_t)len;
        }
        if (len + 1 >= *cap) {
            size_t nc = *cap ? *cap * 2 : 4096;
            if (nc > max + 1) nc = max + 1;
            char *p = realloc(*line, nc);
            if (!p) { /* not the end of the input: the caller reports it */
                *nomem = true;
                return -1;
            }
            *line = p;
            *cap = nc;
        }
        (*line)[len++] = (char)c;
        if (c == '\n') break;
    }
    if (!len) return -1;
    (*line)[len] = '\0';
    return (ssize_t)len;
}

int cmd_dedup(int argc, char **argv)
{
    const char *out_path = NULL, *field = "instruction", *report_path = NULL, *dump_path = NULL;
    double threshold = 0.7;
    isynth_tokenizer_kind kind = ISYNTH_TOKENIZER_CHARS;
    bool quiet = false;
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"field", required_argument, NULL, 'f'},
        {"threshold", required_argument, NULL, 't'},
        {"tokenizer", required_argument, NULL, 'k'},
        {"report", required_argument, NULL, 'r'},
        {"dump-tokens", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case 'f':
            field = optarg;
            break;
        case 't':
            errno = 0;
            threshold = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(threshold >= 0.0)) {
                fprintf(stderr, "isynth dedup: --threshold: '%s' is not a number >= 0\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'k':
            if (isynth_tokenizer_kind_from_name(optarg, &kind)) {
                fprintf(stderr, "isynth dedup: --tokenizer: '%s' is not chars, words or mecab\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'r':
            report_path = optarg;
            break;
        case 'd':
            dump_path = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            help(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !out_path) {
        fprintf(stderr, "isynth dedup: %s\n\n",
                optind >= argc ? "no input file"
                : !out_path    ? "-o OUT.jsonl is required"
                               : "one input file only");
        help(stderr);
        return EXIT_USAGE;
    }
    const char *in_path = argv[optind];

    int code = EXIT_OK;
    isynth_error err;
    isynth_tokenizer *tok = NULL;
    isynth_sim_index *idx = NULL;
    atomic_file out = {0}, rep = {0}, dump = {0};
    kept k = {0};
    char *line = NULL;
    size_t linecap = 0;
    cli_catch_stop_signals(); /* before any temporary exists: a stop then removes them */
    FILE *in = fopen(in_path, "rb");
    if (!in) {
        fprintf(stderr, "isynth dedup: %s: cannot open: %s\n", in_path, strerror(errno));
        return EXIT_FAILURE_RUN;
    }
    isynth_err rc = isynth_tokenizer_new(kind, &tok, &err);
    if (!rc) rc = isynth_sim_index_new(tok, &idx, &err);
    if (!rc) rc = atomic_open(&out, out_path, &err);
    if (!rc && report_path) rc = atomic_open(&rep, report_path, &err);
    if (!rc && dump_path) rc = atomic_open(&dump, dump_path, &err);
    if (rc) {
        fprintf(stderr, "isynth dedup: %s\n", err.msg);
        code = exit_code_for(rc);
        goto done;
    }

    bool tty = !quiet && isatty(STDERR_FILENO);
    double t0 = isynth_now(), last = t0;
    long lineno = 0, records = 0, removed = 0;
    ssize_t got;
    bool too_long = false, nomem = false;
    while ((got = read_line_capped(in, &line, &linecap, MAX_LINE, &too_long, &nomem)) != -1) {
        lineno++;
        if (cli_stop) {
            code = EXIT_INTERRUPTED;
            goto done;
        }
        size_t len = (size_t)got;
        if (too_long) {
            fprintf(stderr, "isynth dedup: %s:%ld: line longer than %zu bytes\n", in_path, lineno,
                    MAX_LINE);
            code = EXIT_INPUT;
            goto done;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t sp = 0;
        while (sp < len && (line[sp] == ' ' || line[sp] == '\t'))
            sp++;
        if (sp == len) continue; /* blank line */
        json_error_t jerr;
        json_t *obj;
        const char *over;
        isynth_err jrc = json_load_record(line, len, JSON_REJECT_DUPLICATES, &obj, &jerr, &over);
        if (jrc == ISYNTH_ERR_NOMEM || (jrc && over)) {
            fprintf(stderr, "isynth dedup: %s:%ld: %s\n", in_path, lineno,
                    over ? over : "out of memory");
            code = over ? EXIT_INPUT : EXIT_FAILURE_RUN;
            goto done;
        }
        if (!obj || !json_is_object(obj)) {
            fprintf(stderr, "isynth dedup: %s:%ld: %s%s\n", in_path, lineno,
                    obj ? "not a JSON object" : "invalid JSON: ", obj ? "" : jerr.text);
            json_decref(obj);
            code = EXIT_INPUT;
            goto done;
        }
        json_t *v = json_object_get(obj, field);
        if (!json_is_string(v)) {
            fprintf(stderr, "isynth dedup: %s:%ld: field '%s' is %s\n", in_path, lineno, field,
                    v ? "not a string" : "missing");
            json_decref(obj);
            code = EXIT_INPUT;
            goto done;
        }
        const char *text = json_string_value(v);
        size_t tlen = json_string_length(v);
        records++;
        uint32_t *ids = NULL;
        size_t n = 0;
        int64_t hit = -1;
        double score = 0;
        rc = isynth_tokenize(tok, text, tlen, &ids, &n, &err);
        if (!rc) rc = isynth_sim_index_nearest_tokens(idx, ids, n, threshold, &hit, &score, &err);
        if (!rc && dump_path && write_tokens(dump.f, tok, lineno, ids, n))
            rc = isynth_error_set(&err, ISYNTH_ERR_IO, "%s: write failed", dump_path);
        if (!rc && hit < 0) {
            rc = isynth_sim_index_add_tokens(idx, (int64_t)k.n, ids, n, &err);
            if (!rc && push_kept(&k, text, tlen, lineno))
                rc = isynth_error_set(&err, ISYNTH_ERR_NOMEM, "out of memory");
            if (!rc && (fwrite(line, 1, len, out.f) != len || fputc('\n', out.f) == EOF))
                rc = isynth_error_set(&err, ISYNTH_ERR_IO, "%s: write failed", out_path);
        } else if (!rc) {
            removed++;
            if (report_path &&
                write_report(rep.f, lineno, text, tlen, k.line[hit], k.text[hit], score))
                rc = isynth_error_set(&err, ISYNTH_ERR_IO, "%s: write failed", report_path);
        }
        isynth_free(ids);
        json_decref(obj);
        if (rc) {
            fprintf(stderr, "isynth dedup: %s:%ld: %s\n", in_path, lineno, err.msg);
            code = exit_code_for(rc);
            goto done;
        }
        if (tty && (records & 255) == 0) {
            double t = isynth_now();
            if (t - last > 0.5) {
                fprintf(stderr, "\rdedup: %ld records, %zu kept, %ld removed, %.0f records/s   ",
                        records, k.n, removed, (double)records / (t - t0));
                last = t;
            }
        }
    }
    if (nomem) {
        fprintf(stderr, "isynth dedup: %s:%ld: out of memory\n", in_path, lineno + 1);
        code = EXIT_FAILURE_RUN;
        goto done;
    }
    if (cli_stop) { /* before the read error a signal causes (EINTR) */
        code = EXIT_INTERRUPTED;
        goto done;
    }
    if (ferror(in)) {
        fprintf(stderr, "isynth dedup: %s: read error\n", in_path);
        code = EXIT_FAILURE_RUN;
        goto done;
    }
    rc = atomic_commit(&out, &err);
    if (!rc && report_path) rc = atomic_commit(&rep, &err);
    if (!rc && dump_path) rc = atomic_commit(&dump, &err);
    if (rc) {
        fprintf(stderr, "isynth dedup: %s\n", err.msg);
        code = exit_code_for(rc);
        goto done;
    }
    if (tty) fputc('\n', stderr);
    if (!quiet)
        fprintf(stderr,
                "dedup: %ld records, %zu kept, %ld removed (ROUGE-L >= %g, tokenizer %s) "
                "in %.2f s\n",
                records, k.n, removed, threshold, isynth_tokenizer_kind_name(kind),
                isynth_now() - t0);
done:
    if (code != EXIT_OK) {
        if (out.f) atomic_abort(&out);
        if (rep.f) atomic_abort(&rep);
        if (dump.f) atomic_abort(&dump);
        if (code == EXIT_INTERRUPTED)
            fprintf(stderr, "\nisynth dedup: interrupted; no output written\n");
    }
    for (size_t i = 0; i < k.n; i++)
        free(k.text[i]);
    free(k.text);
    free(k.line);
    free(line);
    fclose(in);
    isynth_sim_index_free(idx);
    isynth_tokenizer_free(tok);
    return code;
}
