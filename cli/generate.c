/* `isynth generate`: options, backend choice (embedded llama.cpp or OpenAI-compatible HTTP),
 * signals, progress on stderr and the closing summary. */
#include "cli.h"
#include "isynth/openai.h"
#include "isynth/consistency.h"
#include "isynth/export.h"
#include "isynth/pipeline.h"
#include "isynth/rouge.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODEL_FILE "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

static void help(FILE *f)
{
    fprintf(f,
            "usage: isynth generate --seeds FILE --out DIR [-n N] [OPTIONS]\n\n"
            "Writes new tasks in the seeds' style into DIR/run.db and exports DIR/data.jsonl,\n"
            "DIR/rejected.jsonl and DIR/README.md (dataset card). Running the same command\n"
            "again continues the run towards N with no duplicate.\n\n"
            "input and output:\n"
            "  --seeds FILE           seed tasks: .jsonl, .json, .csv or .xlsx (ELYZA-tasks-100,\n"
            "                         Self-Instruct, Alpaca or chat 'messages' shape), or\n"
            "                         run:DIR, another run's accepted (after an import: its\n"
            "                         reviewed) rows\n"
            "  --map SPEC             columns for other shapes: instruction=COL,output=COL,\n"
            "                         input=COL,id=COL\n"
            "  --out DIR              run directory (created when absent)\n"
            "  -n, --count N          accepted tasks wanted (default 20)\n"
            "  --max-requests N       give up after N requests in total (default 30*N+30)\n\n"
            "budgets (whole run, from run.db: a killed and resumed run counts each request once):\n"
            "  --max-generated-tokens N  start no request once N tokens were generated\n"
            "  --max-cost X           start no request once the run cost X (needs a price)\n"
            "  --price-in P           price per million prompt tokens (for the cost)\n"
            "  --price-out P          price per million generated tokens\n"
            "  --min-yield R          stop when fewer than R (0-1) of the candidates of the last\n"
            "                         K requests were kept (the model only copies)\n"
            "  --yield-window K       requests the yield is taken over (default 20)\n\n"
            "model (embedded llama.cpp, the default):\n"
            "  --model PATH           GGUF model (default: $ISYNTH_MODEL, else\n"
            "                         $ISYNTH_CACHE/models/" DEFAULT_MODEL_FILE ",\n"
            "                         $ISYNTH_CACHE being ~/.cache/isynth unless set)\n"
            "  --parallel N           sequences decoded together (default 4)\n"
            "  --ctx N                context tokens per sequence (default 2048)\n"
            "  --threads N            CPU threads (default: all)\n"
            "  --no-prefix-cache      decode every prompt in full (no shared-head KV reuse)\n\n"
            "model (OpenAI-compatible server: vLLM, llama-server, Ollama):\n"
            "  --api-base URL[,URL]   server base URLs; requests go to the least busy\n"
            "  --api-model NAME       served model name\n"
            "  --api-key-file FILE    API key (otherwise $OPENAI_API_KEY; never on the command "
            "line)\n"
            "  --api-endpoint E       chat (default) or completions (base models)\n"
            "  --concurrency N        requests in flight (default 8)\n"
            "  --max-retries N        retries per request (default 5)\n"
            "  --timeout S            seconds for one attempt, whole exchange (default 600)\n"
            "  --stall-timeout S      abandon an attempt whose response stops for S seconds\n"
            "                         (default 30)\n"
            "  --connect-timeout S    seconds to connect (default 10)\n\n"
            "prompting:\n"
            "  --method M             self-instruct (default: new tasks from example tasks),\n"
            "                         magpie (the model's chat template up to a user turn's\n"
            "                         opening is the prompt: the model writes the instruction,\n"
            "                         a second request answers it; the seeds serve the filters)\n"
            "                         or evol (Evol-Instruct: each request rewrites a seed to be\n"
            "                         harder or broader, a second one answers the rewrite)\n"
            "  --rounds N             evol: accepted rewrites are rewritten again, N rounds in\n"
            "                         all (default 1)\n"
            "  --magpie-system FILE   magpie: the system message ({{topic}} allowed), or 'none'\n"
            "                         (default: a built-in one in the seeds' language)\n"
            "  --no-lang-check        magpie: keep a user turn whose first 16 characters are in\n"
            "                         another language (default: write it again, 4 times at most)\n"
            "  --chat-template T      magpie with a server: the served model's chat template, a\n"
            "                         file or a name llama.cpp knows (chatml, llama3, gemma, ...)\n"
            "  --examples K           example tasks per prompt (default 4)\n"
            "  --generated-examples G of which drawn from generated tasks (default 1)\n"
            "  --tasks-per-request M  new tasks asked per request (default 3)\n"
            "  --prompt-format F      auto (default), chat or completion\n"
            "  --template FILE        user-message template with {{examples}}, {{count}},\n"
            "                         {{next}}\n"
            "  --two-stage            write instructions first, answer each in a second request\n"
            "  --no-topics            do not give each request a random subject to write about\n"
            "  --no-grammar           let the model write freely and parse tolerantly (default:\n"
            "                         the embedded model's reply is held to its format by a\n"
            "                         grammar while it is decoded)\n"
            "  --json-schema          servers: ask for the reply as JSON under a JSON schema\n"
            "                         (response_format); good for large models, off by default\n"
            "                         because small ones copy the examples in JSON mode\n"
            "  --no-early-stop        decode every task in full (default: a task the filters\n"
            "                         reject by its instruction and input is dropped before its\n"
            "                         output is written, and another one written in its place)\n\n"
            "sampling:\n"
            "  --temperature T        default 0.7\n"
            "  --top-p P              default 0.95\n"
            "  --max-tokens N         per request (default 512)\n"
            "  --seed S               run seed (default 1)\n\n"
            "filters:\n"
            "  --min-chars N          shortest instruction in characters (default 4)\n"
            "  --max-chars N          longest instruction in characters (default 1000)\n"
            "  --rouge-threshold T    reject at or above this ROUGE-L F against seeds and pool\n"
            "                         (default 0.7; 0 disables)\n"
            "  --tokenizer T          ROUGE-L tokens: chars (default: each kanji/kana a token,\n"
            "                         Latin words whole), words (rouge-score's), mecab\n"
            "  --keywords FILE        reject instructions containing any of these words (one per\n"
            "                         line; default: image, graph, file, 画像, 図, グラフ, ...)\n"
            "  --no-row-checks        skip scaffolding, missing_input, unbalanced, repetition,\n"
            "                         echo and wrong_language (see README: Filters)\n\n"
            "judge (score every accepted row 1-5 with a reason; see README: Judge):\n"
            "  --judge                judge with the generating model\n"
            "  --judge-model PATH     judge with another GGUF model (embedded)\n"
            "  --judge-api-base URL   judge with a server (with --judge-api-model NAME,\n"
            "  --judge-api-model NAME  --judge-api-key-file FILE)\n"
            "  --judge-min-score N    reject rows scored below N (reason judge) and generate\n"
            "                         replacements\n"
            "  --consistency K        ask the generating model each row with facts K more times\n"
            "                         and flag the facts most re-answers do not repeat\n\n"
            "  -q, --quiet            no progress output\n"
            "  -h, --help             this text\n\n"
            "Exit codes: 0 done, 1 run failed, 2 bad command line or mismatched run directory,\n"
            "3 bad seed file, 4 request limit reached before N, 5 generated-token budget spent,\n"
            "6 cost budget spent, 7 stopped for low yield, 130 interrupted (rerun to "
            "continue).\n");
}

typedef struct progress_state {
    bool tty;
    bool quiet;
    double last;
    isynth_progress final;
    char reasons[512];
} progress_state;

static void format_reasons(const isynth_progress *pr, char *out, size_t cap)
{
    size_t w = 0;
    out[0] = '\0';
    for (size_t i = 0; i < pr->n_reasons && w < cap; i++)
        w += (size_t)snprintf(out + w, cap - w, "%s%s %ld", i ? ", " : "", pr->reasons[i],
                              pr->reason_counts[i]);
}

static void on_progress(void *user, const isynth_progress *pr)
{
    progress_state *ps = user;
    ps->final = *pr;
    format_reasons(pr, ps->reasons, sizeof ps->reasons);
    if (ps->quiet) return;
    double now = isynth_now();
    if (!ps->tty && now - ps->last < 2.0 && pr->accepted < pr->target) return;
    ps->last = now;
    double tps = pr->elapsed > 0 ? pr->completion_tokens / pr->elapsed : 0;
    long got = pr->accepted - pr->accepted_at_start;
    double per_min = pr->elapsed > 0 ? 60.0 * (double)got / pr->elapsed : 0;
    char eta[48] = "", cost[48] = "";
    if (pr->accepted < pr->target && per_min > 0) {
        char d[32];
        cli_format_duration(60.0 * (double)(pr->target - pr->accepted) / per_min, d, sizeof d);
        snprintf(eta, sizeof eta, "  ETA %s", d);
    }
    if (pr->cost > 0) snprintf(cost, sizeof cost, "  cost %.4f", pr->cost);
    fprintf(stderr,
            "%saccepted %ld/%ld  rejected %ld%s%s%s  requests %ld (failed %ld)  %.1f tok/s  "
            "%.2f rows/min%s%s%s",
            ps->tty ? "\r\033[K" : "", pr->accepted, pr->target, pr->rejected,
            ps->reasons[0] ? " (" : "", ps->reasons, ps->reasons[0] ? ")" : "", pr->requests,
            pr->failed, tps, per_min, eta, cost, ps->tty ? "" : "\n");
    fflush(stderr);
}

static void on_consistency(void *user, long done, long total, long flagged)
{
    bool *tty = user;
    if (*tty)
        fprintf(stderr, "\r\033[Kre-asked %ld/%ld rows (%ld with facts that changed)", done, total,
                flagged);
}

/* Re-asks the accepted rows with facts (--consistency K), then rewrites the exports. */
static isynth_err consistency_run(const char *dir, isynth_backend *be, int k, bool quiet,
                                  isynth_error *err)
{
    isynth_store *st = NULL;
    isynth_err rc = isynth_store_open(dir, 0, &st, err);
    if (rc) return rc;
    bool tty = !quiet && isatty(2);
    isynth_backend_info bi;
    isynth_backend_info_get(be, &bi);
    isynth_consistency_params cp = isynth_consistency_params_default();
    cp.k = k;
    cp.chat = bi.has_chat_template;
    cp.progress = on_consistency;
    cp.progress_user = &tty;
    cp.stop = &cli_stop;
    long checked = 0, flagged = 0;
    rc = isynth_consistency_store(st, be, &cp, &checked, &flagged, err);
    if (tty) fputc('\n', stderr);
    if (!quiet)
        fprintf(stderr, "isynth: re-asked %ld rows %d times: %ld with facts that changed\n",
                checked, k, flagged);
    isynth_error ex;
    isynth_err erc = isynth_export_run(st, &ex);
    if (!rc && erc) {
        rc = erc;
        if (err) *err = ex;
    }
    isynth_store_close(st);
    return rc;
}

/* The exit code of a run that ended without an error, with its message on stderr. */
static int exit_code_for_end(const isynth_progress *last, const isynth_gen_params *gp)
{
    if (last->accepted >= last->target) return EXIT_OK;
    switch (last->end) {
    case ISYNTH_END_MAX_TOKENS:
        fprintf(stderr,
                "isynth: stopped: %lld tokens generated, the budget was %lld; rerun with "
                "a higher --max-generated-tokens to continue\n",
                last->run_completion_tokens, gp->max_generated_tokens);
        return EXIT_BUDGET_TOKENS;
    case ISYNTH_END_MAX_COST:
        fprintf(stderr,
                "isynth: stopped: the run cost %.4f, the budget was %.4f; rerun with a "
                "higher --max-cost to continue\n",
                last->cost, gp->max_cost);
        return EXIT_BUDGET_COST;
    case ISYNTH_END_LOW_YIELD:
        fprintf(stderr,
                "isynth: stopped: %.1f%% of the candidates of the last %d requests were "
                "kept, under --min-yield %.1f%%; the model mostly copies or repeats: try "
                "another model, more seeds or a higher temperature\n",
                100 * last->recent_yield, gp->yield_window, 100 * gp->min_yield);
        return EXIT_LOW_YIELD;
    default:
        fprintf(stderr,
                "isynth: stopped at the request limit before reaching %ld; rerun with a "
                "higher --max-requests to continue\n",
                last->target);
        return EXIT_PARTIAL;
    }
}

static bool parse_long(const char *s, long lo, long hi, long *out, const char *opt)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "isynth generate: %s expects an integer from %ld to %ld, not '%s'\n", opt,
                lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out, const char *opt)
{
    return cli_parse_double("generate", s, lo, hi, out, opt);
}

enum {
    OPT_SEEDS = 256,
    OPT_MAP,
    OPT_OUT,
    OPT_MAXREQ,
    OPT_MODEL,
    OPT_PARALLEL,
    OPT_CTX,
    OPT_THREADS,
    OPT_NOPREFIX,
    OPT_API_BASE,
    OPT_API_MODEL,
    OPT_API_KEY_FILE,
    OPT_API_ENDPOINT,
    OPT_CONCURRENCY,
    OPT_MAX_RETRIES,
    OPT_EXAMPLES,
    OPT_GEN_EXAMPLES,
    OPT_TPR,
    OPT_FORMAT,
    OPT_TEMPLATE,
    OPT_TWO_STAGE,
    OPT_TEMP,
    OPT_TOP_P,
    OPT_MAX_TOKENS,
    OPT_SEED,
    OPT_MIN_CHARS,
    OPT_MAX_CHARS,
    OPT_ROUGE,
    OPT_TOKENIZER,
    OPT_KEYWORDS,
    OPT_NO_TOPICS,
    OPT_NO_GRAMMAR,
    OPT_JSON_SCHEMA,
    OPT_NO_EARLY_STOP,
    OPT_TIMEOUT,
    OPT_STALL,
    OPT_CONNECT,
    OPT_NO_ROW_CHECKS,
    OPT_JUDGE,
    OPT_JUDGE_MODEL,
    OPT_JUDGE_API_BASE,
    OPT_JUDGE_API_MODEL,
    OPT_JUDGE_KEY_FILE,
    OPT_JUDGE_MIN,
    OPT_CONSISTENCY,
    OPT_MAX_GEN_TOKENS,
    OPT_MAX_COST,
    OPT_PRICE_IN,
    OPT_PRICE_OUT,
    OPT_MIN_YIELD,
    OPT_YIELD_WINDOW,
    OPT_METHOD,
    OPT_MAGPIE_SYSTEM,
    OPT_NO_LANG_CHECK,
    OPT_CHAT_TEMPLATE,
    OPT_ROUNDS,
};

static const struct option longopts[] = {
    {"seeds", required_argument, 0, OPT_SEEDS},
    {"map", required_argument, 0, OPT_MAP},
    {"out", required_argument, 0, OPT_OUT},
    {"count", required_argument, 0, 'n'},
    {"max-requests", required_argument, 0, OPT_MAXREQ},
    {"model", required_argument, 0, OPT_MODEL},
    {"parallel", required_argument, 0, OPT_PARALLEL},
    {"ctx", required_argument, 0, OPT_CTX},
    {"threads", required_argument, 0, OPT_THREADS},
    {"no-prefix-cache", no_argument, 0, OPT_NOPREFIX},
    {"api-base", required_argument, 0, OPT_API_BASE},
    {"api-model", required_argument, 0, OPT_API_MODEL},
    {"api-key-file", required_argument, 0, OPT_API_KEY_FILE},
    {"api-endpoint", required_argument, 0, OPT_API_ENDPOINT},
    {"concurrency", required_argument, 0, OPT_CONCURRENCY},
    {"max-retries", required_argument, 0, OPT_MAX_RETRIES},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"stall-timeout", required_argument, 0, OPT_STALL},
    {"connect-timeout", required_argument, 0, OPT_CONNECT},
    {"examples", required_argument, 0, OPT_EXAMPLES},
    {"generated-examples", required_argument, 0, OPT_GEN_EXAMPLES},
    {"tasks-per-request", required_argument, 0, OPT_TPR},
    {"prompt-format", required_argument, 0, OPT_FORMAT},
    {"template", required_argument, 0, OPT_TEMPLATE},
    {"two-stage", no_argument, 0, OPT_TWO_STAGE},
    {"no-topics", no_argument, 0, OPT_NO_TOPICS},
    {"no-grammar", no_argument, 0, OPT_NO_GRAMMAR},
    {"json-schema", no_argument, 0, OPT_JSON_SCHEMA},
    {"no-early-stop", no_argument, 0, OPT_NO_EARLY_STOP},
    {"temperature", required_argument, 0, OPT_TEMP},
    {"top-p", required_argument, 0, OPT_TOP_P},
    {"max-tokens", required_argument, 0, OPT_MAX_TOKENS},
    {"seed", required_argument, 0, OPT_SEED},
    {"min-chars", required_argument, 0, OPT_MIN_CHARS},
    {"max-chars", required_argument, 0, OPT_MAX_CHARS},
    {"rouge-threshold", required_argument, 0, OPT_ROUGE},
    {"tokenizer", required_argument, 0, OPT_TOKENIZER},
    {"keywords", required_argument, 0, OPT_KEYWORDS},
    {"no-row-checks", no_argument, 0, OPT_NO_ROW_CHECKS},
    {"judge", no_argument, 0, OPT_JUDGE},
    {"judge-model", required_argument, 0, OPT_JUDGE_MODEL},
    {"judge-api-base", required_argument, 0, OPT_JUDGE_API_BASE},
    {"judge-api-model", required_argument, 0, OPT_JUDGE_API_MODEL},
    {"judge-api-key-file", required_argument, 0, OPT_JUDGE_KEY_FILE},
    {"judge-min-score", required_argument, 0, OPT_JUDGE_MIN},
    {"consistency", required_argument, 0, OPT_CONSISTENCY},
    {"max-generated-tokens", required_argument, 0, OPT_MAX_GEN_TOKENS},
    {"max-cost", required_argument, 0, OPT_MAX_COST},
    {"price-in", required_argument, 0, OPT_PRICE_IN},
    {"price-out", required_argument, 0, OPT_PRICE_OUT},
    {"min-yield", required_argument, 0, OPT_MIN_YIELD},
    {"yield-window", required_argument, 0, OPT_YIELD_WINDOW},
    {"method", required_argument, 0, OPT_METHOD},
    {"magpie-system", required_argument, 0, OPT_MAGPIE_SYSTEM},
    {"no-lang-check", no_argument, 0, OPT_NO_LANG_CHECK},
    {"chat-template", required_argument, 0, OPT_CHAT_TEMPLATE},
    {"rounds", required_argument, 0, OPT_ROUNDS},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

int cmd_generate(int argc, char **argv)
{
    isynth_gen_params gp = isynth_gen_params_default();
    cli_backend_opts bo = cli_backend_opts_default(), jo = cli_backend_opts_default();
    isynth_llama_params *lp = &bo.lp;
    isynth_openai_params *op = &bo.op;
    const char *template_path = NULL, *magpie_path = NULL, *chat_tmpl_arg = NULL;
    bool quiet = false, judge = false, rounds_set = false;
    long min_score = 0, consistency = 0;
    long v;
    double d;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:qh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SEEDS:
            gp.seeds_path = optarg;
            break;
        case OPT_MAP:
            gp.seeds_map = optarg;
            break;
        case OPT_OUT:
            gp.out_dir = optarg;
            break;
        case 'n':
            if (!parse_long(optarg, 1, 10000000, &v, "-n")) return EXIT_USAGE;
            gp.target = v;
            break;
        case OPT_MAXREQ:
            if (!parse_long(optarg, 1, 100000000, &v, "--max-requests")) return EXIT_USAGE;
            gp.max_requests = v;
            break;
        case OPT_MODEL:
            bo.model = optarg;
            break;
        case OPT_PARALLEL:
            if (!parse_long(optarg, 1, 256, &v, "--parallel")) return EXIT_USAGE;
            lp->parallel = (int)v;
            break;
        case OPT_CTX:
            if (!parse_long(optarg, 256, 131072, &v, "--ctx")) return EXIT_USAGE;
            lp->n_ctx_per_seq = (int)v;
            break;
        case OPT_THREADS:
            if (!parse_long(optarg, 1, 1024, &v, "--threads")) return EXIT_USAGE;
            lp->n_threads = (int)v;
            break;
        case OPT_NOPREFIX:
            lp->reuse_prefix = false;
            break;
        case OPT_API_BASE:
            bo.api_bases = optarg;
            break;
        case OPT_API_MODEL:
            op->model = optarg;
            break;
        case OPT_API_KEY_FILE:
            bo.key_file = optarg;
            break;
        case OPT_API_ENDPOINT:
            if (!strcmp(optarg, "chat"))
                op->endpoint = ISYNTH_OPENAI_CHAT;
            else if (!strcmp(optarg, "completions"))
                op->endpoint = ISYNTH_OPENAI_COMPLETIONS;
            else {
                fprintf(stderr, "isynth generate: --api-endpoint is chat or completions\n");
                return EXIT_USAGE;
            }
            break;
        case OPT_CONCURRENCY:
            if (!parse_long(optarg, 1, 4096, &v, "--concurrency")) return EXIT_USAGE;
            op->concurrency = (int)v;
            break;
        case OPT_MAX_RETRIES:
            if (!parse_long(optarg, 0, 100, &v, "--max-retries")) return EXIT_USAGE;
            op->max_retries = (int)v;
            break;
        case OPT_TIMEOUT:
            if (!parse_double(optarg, 0.1, 86400, &d, "--timeout")) return EXIT_USAGE;
            op->total_timeout = d;
            break;
        case OPT_STALL:
            if (!parse_double(optarg, 0.1, 86400, &d, "--stall-timeout")) return EXIT_USAGE;
            op->stall_timeout = d;
            break;
        case OPT_CONNECT:
            if (!parse_double(optarg, 0.1, 3600, &d, "--connect-timeout")) return EXIT_USAGE;
            op->connect_timeout = d;
            break;
        case OPT_EXAMPLES:
            if (!parse_long(optarg, 0, 16, &v, "--examples")) return EXIT_USAGE;
            gp.n_examples = (int)v;
            break;
        case OPT_GEN_EXAMPLES:
            if (!parse_long(optarg, 0, 16, &v, "--generated-examples")) return EXIT_USAGE;
            gp.n_generated_examples = (int)v;
            break;
        case OPT_TPR:
            if (!parse_long(optarg, 1, 50, &v, "--tasks-per-request")) return EXIT_USAGE;
            gp.n_new = (int)v;
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "auto"))
                gp.format = ISYNTH_FORMAT_AUTO;
            else if (!strcmp(optarg, "chat"))
                gp.format = ISYNTH_FORMAT_CHAT;
            else if (!strcmp(optarg, "completion"))
                gp.format = ISYNTH_FORMAT_COMPLETION;
            else {
                fprintf(stderr, "isynth generate: --prompt-format is auto, chat or completion\n");
                return EXIT_USAGE;
            }
            break;
        case OPT_TEMPLATE:
            template_path = optarg;
            break;
        case OPT_TWO_STAGE:
            gp.two_stage = true;
            break;
        case OPT_NO_TOPICS:
            gp.topics = false;
            break;
        case OPT_NO_GRAMMAR:
            gp.constrain = false;
            break;
        case OPT_JSON_SCHEMA:
            gp.json_schema = true;
            break;
        case OPT_NO_EARLY_STOP:
            gp.early_stop = false;
            break;
        case OPT_TEMP:
            if (!parse_double(optarg, 0, 5, &d, "--temperature")) return EXIT_USAGE;
            gp.temperature = (float)d;
            break;
        case OPT_TOP_P:
            if (!parse_double(optarg, 0, 1, &d, "--top-p")) return EXIT_USAGE;
            gp.top_p = (float)d;
            break;
        case OPT_MAX_TOKENS:
            if (!parse_long(optarg, 1, 131072, &v, "--max-tokens")) return EXIT_USAGE;
            gp.max_tokens = (int)v;
            break;
        case OPT_SEED:
            if (!parse_long(optarg, 0, 0x7fffffffL, &v, "--seed")) return EXIT_USAGE;
            gp.seed = (uint64_t)v;
            break;
        case OPT_MIN_CHARS:
            if (!parse_long(optarg, 0, 100000, &v, "--min-chars")) return EXIT_USAGE;
            gp.filter.min_instruction_chars = (size_t)v;
            break;
        case OPT_MAX_CHARS:
            if (!parse_long(optarg, 1, 1000000, &v, "--max-chars")) return EXIT_USAGE;
            gp.filter.max_instruction_chars = (size_t)v;
            break;
        case OPT_ROUGE:
            if (!parse_double(optarg, 0, 1, &d, "--rouge-threshold")) return EXIT_USAGE;
            gp.filter.rouge_threshold = d;
            break;
        case OPT_TOKENIZER: {
            isynth_tokenizer_kind kind;
            if (isynth_tokenizer_kind_from_name(optarg, &kind)) {
                fprintf(stderr, "isynth generate: --tokenizer is chars, words or mecab\n");
                return EXIT_USAGE;
            }
            gp.filter.tokenizer = (int)kind;
            break;
        }
        case OPT_KEYWORDS:
            gp.filter.keywords_path = optarg;
            break;
        case OPT_NO_ROW_CHECKS:
            gp.filter.row_checks = false;
            break;
        case OPT_JUDGE:
            judge = true;
            break;
        case OPT_CONSISTENCY:
            if (!parse_long(optarg, 2, 16, &consistency, "--consistency")) return EXIT_USAGE;
            break;
        case OPT_JUDGE_MODEL:
            jo.model = optarg;
            judge = true;
            break;
        case OPT_JUDGE_API_BASE:
            jo.api_bases = optarg;
            judge = true;
            break;
        case OPT_JUDGE_API_MODEL:
            jo.op.model = optarg;
            judge = true;
            break;
        case OPT_JUDGE_KEY_FILE:
            jo.key_file = optarg;
            break;
        case OPT_JUDGE_MIN:
            if (!parse_long(optarg, 1, 5, &min_score, "--judge-min-score")) return EXIT_USAGE;
            judge = true;
            break;
        case OPT_MAX_GEN_TOKENS:
            if (!parse_long(optarg, 1, 0x7fffffffL, &v, "--max-generated-tokens"))
                return EXIT_USAGE;
            gp.max_generated_tokens = v;
            break;
        case OPT_MAX_COST:
            if (!parse_double(optarg, 1e-9, 1e12, &d, "--max-cost")) return EXIT_USAGE;
            gp.max_cost = d;
            break;
        case OPT_PRICE_IN:
            if (!parse_double(optarg, 0, 1e9, &d, "--price-in")) return EXIT_USAGE;
            gp.price_in = d;
            break;
        case OPT_PRICE_OUT:
            if (!parse_double(optarg, 0, 1e9, &d, "--price-out")) return EXIT_USAGE;
            gp.price_out = d;
            break;
        case OPT_MIN_YIELD:
            if (!parse_double(optarg, 1e-9, 1, &d, "--min-yield")) return EXIT_USAGE;
            gp.min_yield = d;
            break;
        case OPT_YIELD_WINDOW:
            if (!parse_long(optarg, 1, 100000, &v, "--yield-window")) return EXIT_USAGE;
            gp.yield_window = (int)v;
            break;
        case OPT_METHOD:
            if (!strcmp(optarg, "self-instruct"))
                gp.method = ISYNTH_METHOD_SELF_INSTRUCT;
            else if (!strcmp(optarg, "magpie"))
                gp.method = ISYNTH_METHOD_MAGPIE;
            else if (!strcmp(optarg, "evol"))
                gp.method = ISYNTH_METHOD_EVOL;
            else {
                fprintf(stderr, "isynth generate: --method is self-instruct, magpie or evol\n");
                return EXIT_USAGE;
            }
            break;
        case OPT_MAGPIE_SYSTEM:
            magpie_path = optarg;
            break;
        case OPT_NO_LANG_CHECK:
            gp.lang_check = false;
            break;
        case OPT_CHAT_TEMPLATE:
            chat_tmpl_arg = optarg;
            break;
        case OPT_ROUNDS:
            if (!parse_long(optarg, 1, 100, &v, "--rounds")) return EXIT_USAGE;
            gp.rounds = (int)v;
            rounds_set = true;
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
    if (optind < argc) {
        fprintf(stderr, "isynth generate: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!gp.seeds_path || !gp.out_dir) {
        fprintf(stderr, "isynth generate: --seeds and --out are required (see --help)\n");
        return EXIT_USAGE;
    }
    if (gp.max_cost > 0 && gp.price_in <= 0 && gp.price_out <= 0) {
        fprintf(stderr, "isynth generate: --max-cost needs --price-in or --price-out\n");
        return EXIT_USAGE;
    }
    if ((magpie_path || !gp.lang_check || chat_tmpl_arg) && gp.method != ISYNTH_METHOD_MAGPIE) {
        fprintf(stderr, "isynth generate: --magpie-system, --no-lang-check and --chat-template "
                        "go with --method magpie\n");
        return EXIT_USAGE;
    }
    if (rounds_set && gp.method != ISYNTH_METHOD_EVOL) {
        fprintf(stderr, "isynth generate: --rounds goes with --method evol\n");
        return EXIT_USAGE;
    }
    if (gp.method == ISYNTH_METHOD_EVOL && (template_path || gp.two_stage)) {
        fprintf(stderr, "isynth generate: --method evol takes no --template or --two-stage (it "
                        "rewrites tasks, then answers them, already)\n");
        return EXIT_USAGE;
    }
    if (gp.method == ISYNTH_METHOD_MAGPIE && (template_path || gp.two_stage)) {
        fprintf(stderr, "isynth generate: --method magpie takes no --template or --two-stage "
                        "(it writes instructions, then answers them, already)\n");
        return EXIT_USAGE;
    }
    int code = EXIT_FAILURE_RUN;
    char *tmpl = NULL, *magpie_sys = NULL, *chat_tmpl = NULL;
    isynth_backend *be = NULL, *jbe = NULL;
    isynth_seedset *seeds = NULL;
    isynth_error err;
    isynth_error_clear(&err);
    if (template_path) {
        if (!(tmpl = cli_read_small_file("generate", template_path, "template"))) return EXIT_INPUT;
        gp.template_text = tmpl;
        gp.template_name = template_path;
    }
    if (magpie_path && strcmp(magpie_path, "none")) {
        if (!(magpie_sys = cli_read_small_file("generate", magpie_path, "system message"))) {
            free(tmpl);
            return EXIT_INPUT;
        }
        gp.magpie_system = magpie_sys;
    } else if (magpie_path) {
        gp.magpie_system = "";
    }
    /* a name llama.cpp knows, else a file holding the template */
    if (chat_tmpl_arg && strchr(chat_tmpl_arg, '/') == NULL && access(chat_tmpl_arg, R_OK) != 0) {
        op->chat_template = chat_tmpl_arg;
    } else if (chat_tmpl_arg) {
        if (!(chat_tmpl = cli_read_small_file("generate", chat_tmpl_arg, "chat template"))) {
            free(tmpl);
            free(magpie_sys);
            return EXIT_INPUT;
        }
        op->chat_template = chat_tmpl;
    }

    /* Seeds first: a bad seed file fails in milliseconds, before a model is loaded and before
     * the run directory is created. */
    isynth_seeds_params sp = isynth_seeds_params_default();
    sp.map = gp.seeds_map;
    isynth_err rc = isynth_seeds_load(gp.seeds_path, &sp, &seeds, &err);
    if (rc) {
        fprintf(stderr, "isynth generate: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        code = exit_code_for(rc);
        goto out;
    }
    gp.seeds = seeds;
    if ((code = cli_backend_new("generate", &bo, quiet, &be)) != EXIT_OK) goto out;
    code = EXIT_FAILURE_RUN;
    if ((jo.model || jo.api_bases) &&
        (code = cli_backend_new("generate", &jo, quiet, &jbe)) != EXIT_OK)
        goto out;
    code = EXIT_FAILURE_RUN;

    if (gp.method != ISYNTH_METHOD_SELF_INSTRUCT && !quiet) {
        isynth_backend_info bi;
        isynth_backend_info_get(be, &bi);
        if (bi.n_params > 0 && bi.n_params < 3000000000ull)
            fprintf(stderr,
                    "isynth: note: %s works with aligned chat models of about 7B parameters or "
                    "more; this one has %.1fB, and its rows are seldom worth keeping (README: "
                    "%s)\n",
                    gp.method == ISYNTH_METHOD_MAGPIE ? "Magpie" : "Evol-Instruct",
                    (double)bi.n_params / 1e9,
                    gp.method == ISYNTH_METHOD_MAGPIE ? "Magpie" : "Evol-Instruct");
    }
    cli_catch_stop_signals();
    progress_state ps = {.tty = isatty(2), .quiet = quiet, .last = 0};
    gp.progress = on_progress;
    gp.progress_user = &ps;
    gp.stop = &cli_stop;
    isynth_progress last;
    for (int round = 0;; round++) {
        rc = isynth_generate(&gp, be, &last, &err);
        if (ps.tty && !quiet) fputc('\n', stderr);
        if (rc || !judge) break;
        /* judge what was accepted; rows below --judge-min-score are rejected, and the next
         * round generates their replacements until -n or the request limit */
        long before = last.accepted;
        rc = cli_judge_run(gp.out_dir, jbe ? jbe : be, (int)min_score, quiet, &cli_stop,
                           &last.accepted, &err);
        if (rc || last.accepted >= last.target || last.accepted == before || round >= 20 ||
            cli_stop)
            break;
        if (!quiet)
            fprintf(stderr, "isynth: %ld rows judged below %ld; generating replacements\n",
                    before - last.accepted, min_score);
    }
    isynth_backend_stats bs;
    isynth_backend_stats_get(be, &bs);
    if (rc && rc != ISYNTH_ERR_CANCELLED) {
        fprintf(stderr, "isynth generate: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        code = exit_code_for(rc);
        goto out;
    }
    if (!quiet) {
        fprintf(stderr,
                "isynth: %ld accepted of %ld wanted, %ld rejected%s%s%s; this session: %ld "
                "requests, %ld retries, %ld failed, %ld prompt + %ld generated tokens, %.1f "
                "generated tok/s\n",
                last.accepted, last.target, last.rejected, ps.reasons[0] ? " (" : "", ps.reasons,
                ps.reasons[0] ? ")" : "", bs.requests, bs.retries, bs.failures, bs.prompt_tokens,
                bs.completion_tokens,
                bs.busy_seconds > 0 ? bs.completion_tokens / bs.busy_seconds : 0.0);
    }
    if (!rc && consistency) {
        rc = consistency_run(gp.out_dir, be, (int)consistency, quiet, &err);
        if (rc && rc != ISYNTH_ERR_CANCELLED) {
            fprintf(stderr, "isynth generate: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
            code = exit_code_for(rc);
            goto out;
        }
    }
    if (rc == ISYNTH_ERR_CANCELLED) {
        fprintf(stderr, "isynth: interrupted; run the same command again to continue\n");
        code = EXIT_INTERRUPTED;
        goto out;
    }
    printf("%s/data.jsonl\n", gp.out_dir);
    code = exit_code_for_end(&last, &gp);
out:
    isynth_backend_free(be);
    isynth_backend_free(jbe);
    isynth_seeds_free(seeds);
    free(tmpl);
    free(magpie_sys);
    free(chat_tmpl);
    return code;
}
