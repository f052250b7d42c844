/* `isynth dedup`: a standalone near-duplicate remover for any JSONL dataset. Each record's text
 * field is compared (ROUGE-L F, Japanese-aware tokens) with every record kept before it; the
 * first occurrence wins. The input is read with the library's JSONL reader (one pass, so a pipe
 * works); output and report are written as the library writes files (isynth_outfile); progress
 * goes to stderr when it is a terminal. */
#include "cli.h"
#include "isynth/rouge.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Writes o as one compact JSON line and frees it; -1 when o is NULL (a value jansson could not
 * make) or the write fails. */
static int write_json_line(FILE *f, json_t *o)
{
    int bad = !o || json_dumpf(o, f, JSON_COMPACT) || fputc('\n', f) == EOF;
    json_decref(o);
    return bad ? -1 : 0;
}

static int write_tokens(FILE *f, isynth_tokenizer *tok, long line, const uint32_t *ids, size_t n)
{
    json_t *tokens = json_array();
    for (size_t i = 0; tokens && i < n; i++) {
        size_t len;
        const char *s = isynth_tokenizer_token(tok, ids[i], &len);
        if (json_array_append_new(tokens, json_stringn(s, len))) {
            json_decref(tokens);
            tokens = NULL;
        }
    }
    return write_json_line(
        f, tokens ? json_pack("{s:I,s:o}", "line", (json_int_t)line, "tokens", tokens) : NULL);
}

static int write_report(FILE *f, long line, const char *text, size_t len, long kline,
                        const char *ktext, double score)
{
    return write_json_line(f, json_pack("{s:I,s:s%,s:I,s:s,s:f}", "line", (json_int_t)line, "text",
                                        text, len, "kept_line", (json_int_t)kline, "kept_text",
                                        ktext, "score", score));
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
    isynth_outfile *out = NULL, *rep = NULL, *dump = NULL;
    isynth_jsonl_reader *in = NULL;
    kept k = {0};
    cli_catch_stop_signals(); /* before any temporary exists: a stop then removes them */
    isynth_err rc = isynth_jsonl_open(in_path, NULL, &in, &err);
    if (!rc) rc = isynth_tokenizer_new(kind, &tok, &err);
    if (!rc) rc = isynth_sim_index_new(tok, &idx, &err);
    if (!rc) rc = isynth_outfile_open(out_path, &out, &err);
    if (!rc && report_path) rc = isynth_outfile_open(report_path, &rep, &err);
    if (!rc && dump_path) rc = isynth_outfile_open(dump_path, &dump, &err);
    if (rc) {
        fprintf(stderr, "isynth dedup: %s\n", err.msg);
        code = exit_code_for(rc);
        goto done;
    }

    bool tty = !quiet && isatty(STDERR_FILENO);
    double t0 = isynth_now(), last = t0;
    long records = 0, removed = 0;
    for (;;) {
        const char *line, *text;
        size_t len, tlen;
        rc = isynth_jsonl_next(in, &line, &len, &err);
        if (cli_stop) { /* before the read error a signal causes (EINTR) */
            code = EXIT_INTERRUPTED;
            goto done;
        }
        if (!rc && !line) break;
        /* the line must be a JSON object whose field is a string (file and line named) */
        if (!rc) rc = isynth_jsonl_get_string(in, field, &text, &tlen, &err);
        if (rc) {
            fprintf(stderr, "isynth dedup: %s\n", err.msg);
            code = exit_code_for(rc);
            goto done;
        }
        long lineno = (long)isynth_jsonl_line(in);
        records++;
        uint32_t *ids = NULL;
        size_t n = 0;
        int64_t hit = -1;
        double score = 0;
        rc = isynth_tokenize(tok, text, tlen, &ids, &n, &err);
        if (!rc) rc = isynth_sim_index_nearest_tokens(idx, ids, n, threshold, &hit, &score, &err);
        if (!rc && dump && write_tokens(isynth_outfile_stream(dump), tok, lineno, ids, n))
            rc = isynth_error_set(&err, ISYNTH_ERR_IO, "%s: write failed", dump_path);
        if (!rc && hit < 0) {
            FILE *o = isynth_outfile_stream(out);
            rc = isynth_sim_index_add_tokens(idx, (int64_t)k.n, ids, n, &err);
            if (!rc && push_kept(&k, text, tlen, lineno))
                rc = isynth_error_set(&err, ISYNTH_ERR_NOMEM, "out of memory");
            if (!rc && (fwrite(line, 1, len, o) != len || fputc('\n', o) == EOF))
                rc = isynth_error_set(&err, ISYNTH_ERR_IO, "%s: write failed", out_path);
        } else if (!rc) {
            removed++;
            if (rep && write_report(isynth_outfile_stream(rep), lineno, text, tlen, k.line[hit],
                                    k.text[hit], score))
                rc = isynth_error_set(&err, ISYNTH_ERR_IO, "%s: write failed", report_path);
        }
        isynth_free(ids);
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
    rc = isynth_outfile_commit(out, &err);
    out = NULL;
    if (!rc && rep) {
        rc = isynth_outfile_commit(rep, &err);
        rep = NULL;
    }
    if (!rc && dump) {
        rc = isynth_outfile_commit(dump, &err);
        dump = NULL;
    }
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
    isynth_outfile_abort(out);
    isynth_outfile_abort(rep);
    isynth_outfile_abort(dump);
    if (code == EXIT_INTERRUPTED)
        fprintf(stderr, "\nisynth dedup: interrupted; no output written\n");
    for (size_t i = 0; i < k.n; i++)
        free(k.text[i]);
    free(k.text);
    free(k.line);
    isynth_jsonl_close(in);
    isynth_sim_index_free(idx);
    isynth_tokenizer_free(tok);
    return code;
}
