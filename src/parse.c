/* Model text to candidate tasks. The response is first made safe (invalid UTF-8 and NUL become
 * U+FFFD, CR LF becomes LF), then read once, line by line: a line is a task header (it starts a
 * block), a label (it starts a field of the block), a code fence or a rule, or text that extends
 * the open field. Each block becomes a task, or an unparseable record with a static reason, as
 * soon as it closes, so memory is bounded by the result and not by the input. Fields are spans
 * of the sanitised text until they are copied out. */
#include "isynth/parse.h"

#include "internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { F_PRE, F_INSTR, F_INPUT, F_OUTPUT, F_COUNT };
#define F_NONE (-1)

/* A byte range [a, b) of the sanitised text. */
typedef struct span {
    size_t a, b;
    bool set;
} span;

/* A task being read. F_PRE is text after the header and before the first label: a title, or
 * the instruction itself when the model wrote no instruction label. */
typedef struct block {
    bool open;
    bool header; /* opened by a task header (else by a label) */
    bool closed; /* ended by a closing fence or a rule */
    size_t start, end;
    long line;
    int target; /* the field that text lines extend, or F_NONE */
    span f[F_COUNT];
} block;

typedef struct parser {
    const char *s; /* sanitised text */
    size_t n;
    isynth_parse_params prm;
    bool strong[F_COUNT]; /* the main label word of a section appears in the text */
    bool in_fence;        /* inside a code block that belongs to a field */
    bool wrapper;         /* a fence outside any field opened and is not closed yet */
    char fence_ch;
    size_t fence_len;
    block cur;
    span pending; /* text before the first block */
    long pending_line;
    bool any_block;
    bool done; /* max_tasks reached */
    isynth_parsed *res;
    size_t cap_tasks;
} parser;

/* ---- characters ---- */

static const char *const deco_set[] = {"#", "＃", "*", "＊", "_", "-", "・", "•", ">", NULL};
static const char *const open_set[] = {"【", "[", "「", "『", "(", "（", "〔", NULL};
static const char *const close_set[] = {"】", "]", "」", "』", ")", "）", "〕", NULL};
static const char *const colon_set[] = {":", "：", NULL};
static const char *const num_punct[] = {".", "．", ")", "）", NULL};
static const char *const item_punct[] = {".", "．", ")", "）", "、", NULL};
static const char *const bare_punct[] = {".", "．", ")", "）", ":", "：", "】", "]", "、", NULL};
static const char *const header_punct[] = {":", "：", ".",  "．", ")",  "）", "]",  "】", "*",
                                           "_", ",",  "、", "-",  "。", "」", "』", "〕", NULL};

enum { FL_HASH = 1, FL_STAR = 2, FL_BRACKET = 4 };

static bool lit(const char *p, const char *e, const char *s, size_t *len)
{
    size_t n = strlen(s);
    if ((size_t)(e - p) < n || memcmp(p, s, n) != 0) return false;
    *len = n;
    return true;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s is lower-case ASCII. */
static bool lit_ci(const char *p, const char *e, const char *s, size_t *len)
{
    size_t n = strlen(s);
    if ((size_t)(e - p) < n) return false;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != s[i]) return false;
    *len = n;
    return true;
}

/* Length of the member of set that p starts with, or 0. */
static size_t one_of(const char *p, const char *e, const char *const *set)
{
    size_t k;
    for (; *set; set++)
        if (lit(p, e, *set, &k)) return k;
    return 0;
}

/* Length of the horizontal space at p (ASCII, NBSP, ideographic space), or 0. */
static size_t space_len(const char *p, const char *e)
{
    if (p >= e) return 0;
    unsigned char c = (unsigned char)*p;
    if (c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r') return 1;
    size_t k;
    if (lit(p, e, "\xC2\xA0", &k) || lit(p, e, "\xE3\x80\x80", &k)) return k;
    return 0;
}

static size_t ws_len(const char *p, const char *e)
{
    return p < e && *p == '\n' ? 1 : space_len(p, e);
}

static const char *skip_space(const char *p, const char *e)
{
    size_t k;
    while ((k = space_len(p, e)))
        p += k;
    return p;
}

static bool is_blank(const char *p, const char *e)
{
    return skip_space(p, e) == e;
}

/* Skips digits (ASCII or full-width); *val gets their value, saturated. */
static const char *skip_digits(const char *p, const char *e, unsigned long *val)
{
    unsigned long v = 0;
    for (;;) {
        int d;
        size_t k = 1;
        if (p < e && *p >= '0' && *p <= '9')
            d = *p - '0';
        else if (e - p >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBC &&
                 (unsigned char)p[2] >= 0x90 && (unsigned char)p[2] <= 0x99) {
            d = (unsigned char)p[2] - 0x90;
            k = 3;
        } else
            break;
        v = v < 100000000UL ? v * 10 + (unsigned long)d : v;
        p += k;
    }
    if (val) *val = v;
    return p;
}

/* Skips spaces, markdown marks and opening brackets; records which were seen in *fl. */
static const char *skip_deco(const char *p, const char *e, int *fl)
{
    for (;;) {
        size_t k = space_len(p, e);
        size_t m;
        if (!k && (k = one_of(p, e, deco_set))) {
            if (*p == '#' || lit(p, e, "＃", &m))
                *fl |= FL_HASH;
            else if (*p == '*' || lit(p, e, "＊", &m))
                *fl |= FL_STAR;
        }
        if (!k && (k = one_of(p, e, open_set))) *fl |= FL_BRACKET;
        if (!k) return p;
        p += k;
    }
}

/* A line of three or more backticks or tildes; *bare when nothing follows them. */
static bool is_fence(const char *p, const char *e, char *ch, size_t *cnt, bool *bare)
{
    p = skip_space(p, e);
    if (p >= e || (*p != '`' && *p != '~')) return false;
    const char *q = p;
    while (q < e && *q == *p)
        q++;
    if (q - p < 3) return false;
    *ch = *p;
    *cnt = (size_t)(q - p);
    *bare = is_blank(q, e);
    return true;
}

/* A markdown rule: three or more of one of - * _ = and spaces, nothing else. */
static bool is_rule(const char *p, const char *e)
{
    p = skip_space(p, e);
    if (p >= e || !*p || !strchr("-*_=", *p)) return false;
    char c = *p;
    int cnt = 0;
    for (; p < e; p = skip_space(p, e)) {
        if (*p != c) return false;
        cnt++;
        p++;
    }
    return cnt >= 3;
}

static size_t line_end(const parser *P, size_t a)
{
    const char *nl = memchr(P->s + a, '\n', P->n - a);
    return nl ? (size_t)(nl - P->s) : P->n;
}

/* ---- headers and labels ---- */

typedef struct label_word {
    const char *word;
    int field;
    bool strong;
    bool ascii;
} label_word;

/* Longest first where one word starts another. */
static const label_word labels[] = {
    {"指示文", F_INSTR, true, false},        {"指示", F_INSTR, true, false},
    {"命令", F_INSTR, false, false},         {"質問", F_INSTR, false, false},
    {"instructions", F_INSTR, true, true},   {"instruction", F_INSTR, true, true},
    {"prompt", F_INSTR, false, true},        {"question", F_INSTR, false, true},
    {"入力文", F_INPUT, true, false},        {"入力", F_INPUT, true, false},
    {"コンテキスト", F_INPUT, false, false}, {"inputs", F_INPUT, true, true},
    {"input", F_INPUT, true, true},          {"context", F_INPUT, false, true},
    {"出力", F_OUTPUT, true, false},         {"回答", F_OUTPUT, false, false},
    {"答え", F_OUTPUT, false, false},        {"応答", F_OUTPUT, false, false},
    {"解答", F_OUTPUT, false, false},        {"outputs", F_OUTPUT, true, true},
    {"output", F_OUTPUT, true, true},        {"answer", F_OUTPUT, false, true},
    {"response", F_OUTPUT, false, true},
};

static const char *const keywords_ja[] = {"新しいタスク", "新規タスク", "タスク", NULL};
static const char *const keywords_en[] = {"new task", "task", NULL};

/* Matches a label at p ("指示:", "【入力】", "**Output**:", "### 出力", "1. Input:"). Returns
 * its field and sets *content after it, or F_NONE. With any, secondary words always count. */
static int match_label(const parser *P, const char *p, const char *e, bool any,
                       const char **content, bool *strong)
{
    int fl = 0;
    const char *q = skip_deco(p, e, &fl);
    const char *d = skip_digits(q, e, NULL);
    if (d != q) {
        size_t k = one_of(d, e, num_punct);
        if (!k) return F_NONE;
        q = skip_deco(d + k, e, &fl);
    }
    const label_word *w = NULL;
    size_t k = 0;
    for (size_t i = 0; i < sizeof labels / sizeof labels[0] && !w; i++)
        if (labels[i].ascii ? lit_ci(q, e, labels[i].word, &k) : lit(q, e, labels[i].word, &k))
            w = &labels[i];
    if (!w) return F_NONE;
    if (!any && !w->strong && P->strong[w->field]) return F_NONE;
    q = skip_space(q + k, e);
    bool closed = false;
    for (;;) {
        size_t c = one_of(q, e, close_set);
        if (c)
            closed = true;
        else if (q < e && (*q == '*' || *q == '_'))
            c = 1;
        if (!c) break;
        q = skip_space(q + c, e);
    }
    if ((k = one_of(q, e, colon_set))) {
        q += k;
        while (q < e && (*q == '*' || *q == '_'))
            q++;
    } else if (!(closed && (fl & FL_BRACKET)) && !(q == e && (fl & (FL_HASH | FL_STAR)))) {
        return F_NONE;
    }
    *content = skip_space(q, e);
    if (strong) *strong = w->strong;
    return w->field;
}

/* True when the first non-blank line after offset e starts with an instruction label. */
static bool next_is_instruction(const parser *P, size_t e)
{
    while (e < P->n) {
        size_t a = e + 1, le = line_end(P, a);
        if (!is_blank(P->s + a, P->s + le)) {
            const char *c;
            return match_label(P, P->s + a, P->s + le, false, &c, NULL) == F_INSTR;
        }
        e = le;
    }
    return false;
}

/* Matches a task header at p ("タスク1", "### Task 2:", "**タスク３**", "Task #4"; with bare,
 * also "12." followed by an instruction label on this line or the next one). e must be the end
 * of the line. Sets *next after the header and its punctuation. */
static bool match_header(const parser *P, const char *p, const char *e, bool bare,
                         const char **next)
{
    int fl = 0;
    const char *q = skip_deco(p, e, &fl);
    size_t k = 0;
    bool kw = false;
    for (const char *const *w = keywords_ja; *w && !kw; w++)
        kw = lit(q, e, *w, &k);
    for (const char *const *w = keywords_en; *w && !kw; w++)
        kw = lit_ci(q, e, *w, &k);
    if (kw) {
        q = skip_space(q + k, e);
        if (lit(q, e, "#", &k) || lit(q, e, "＃", &k)) q = skip_space(q + k, e);
    } else if (!bare) {
        return false;
    }
    const char *d = skip_digits(q, e, NULL);
    if (d == q) return false;
    q = d;
    if (!kw && !one_of(q, e, bare_punct)) return false;
    if (kw && q < e && !space_len(q, e) && !one_of(q, e, header_punct)) return false;
    for (;;) {
        size_t c = space_len(q, e);
        if (!c) c = one_of(q, e, header_punct);
        if (!c) break;
        q += c;
    }
    if (!kw) {
        const char *c;
        if (q < e ? match_label(P, q, e, false, &c, NULL) != F_INSTR
                  : !next_is_instruction(P, (size_t)(e - P->s)))
            return false;
    }
    *next = q;
    return true;
}

/* Inside a code fence only a keyword header followed by an instruction label ends the fence:
 * "# Task 1" in a code comment stays code. */
static bool fenced_header(const parser *P, const char *p, const char *e)
{
    const char *nx, *c;
    if (!match_header(P, p, e, false, &nx)) return false;
    if (match_label(P, nx, e, false, &c, NULL) == F_INSTR) return true;
    return is_blank(nx, e) && next_is_instruction(P, (size_t)(e - P->s));
}

static bool structural(const parser *P, const char *p, const char *e)
{
    char ch;
    size_t cnt;
    bool bare;
    const char *x;
    return is_fence(p, e, &ch, &cnt, &bare) || is_rule(p, e) || match_header(P, p, e, true, &x) ||
           match_label(P, p, e, false, &x, NULL) != F_NONE;
}

/* True when the first non-blank line after offset e is a header, label, fence or rule, or there
 * is none: then a fence or rule at e closes the field instead of belonging to it. */
static bool next_structural(const parser *P, size_t e)
{
    while (e < P->n) {
        size_t a = e + 1, le = line_end(P, a);
        if (!is_blank(P->s + a, P->s + le)) return structural(P, P->s + a, P->s + le);
        e = le;
    }
    return true;
}

/* ---- spans ---- */

static span trim(const parser *P, span t)
{
    if (!t.set) return (span){0, 0, false};
    const char *s = P->s;
    size_t k;
    while (t.a < t.b && (k = ws_len(s + t.a, s + t.b)))
        t.a += k;
    while (t.a < t.b) {
        unsigned char c = (unsigned char)s[t.b - 1];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
            t.b--;
        else if (t.b - t.a >= 2 && lit(s + t.b - 2, s + t.b, "\xC2\xA0", &k))
            t.b -= 2;
        else if (t.b - t.a >= 3 && lit(s + t.b - 3, s + t.b, "\xE3\x80\x80", &k))
            t.b -= 3;
        else
            break;
    }
    return t;
}

static size_t span_len(span t)
{
    return t.b - t.a;
}

/* Values of an input section that mean "no input". */
static const char *const empty_inputs[] = {
    "<noinput>", "<no input>",   "<no_input>", "noinput", "no input", "none",     "none.",
    "(none)",    "<none>",       "n/a",        "n/a.",    "null",     "-",        "--",
    "—",         "－",           "<empty>",    "empty",   "なし",     "無し",     "なし。",
    "無し。",    "（なし）",     "(なし)",     "<なし>",  "＜なし＞", "「なし」", "特になし",
    "入力なし",  "（入力なし）", "(入力なし)", "空",      "（空）",   "(空)",     NULL};

static bool is_empty_input(const parser *P, span t)
{
    size_t k;
    for (const char *const *w = empty_inputs; *w; w++)
        if (strlen(*w) == span_len(t) && lit_ci(P->s + t.a, P->s + t.b, *w, &k)) return true;
    return false;
}

static const char *const closing_phrases[] = {
    "以上です",     "以上が新しい", "以上で",           "以上、",       "これらのタスク",
    "上記のタスク", "新しいタスク", "いかがでしょうか", "他にもタスク", NULL};
static const char *const closing_phrases_en[] = {"i hope",    "hope this",      "let me know",
                                                 "feel free", "these tasks",    "these are",
                                                 "here are",  "would you like", NULL};

static bool starts_with_phrase(const char *p, const char *e, const char *const *ja,
                               const char *const *en)
{
    size_t k;
    p = skip_space(p, e);
    for (; *ja; ja++)
        if (lit(p, e, *ja, &k)) return true;
    for (; *en; en++)
        if (lit_ci(p, e, *en, &k)) return true;
    return false;
}

/* Drops a last paragraph of chatter ("以上が新しいタスクです。", "I hope these help!") from
 * the field that runs to the end of the response, unless it sits inside a code fence. */
static span strip_closing(const parser *P, span t)
{
    if (!t.set) return t;
    size_t blank = SIZE_MAX, cut = SIZE_MAX, para = SIZE_MAX;
    int fences = 0, fences_before = 0;
    char ch;
    size_t cnt;
    bool bare;
    for (size_t a = t.a; a < t.b;) {
        size_t le = line_end(P, a);
        if (le > t.b) le = t.b;
        const char *p = P->s + a, *e = P->s + le;
        if (is_blank(p, e)) {
            if (blank == SIZE_MAX) blank = a;
        } else {
            if (blank != SIZE_MAX) {
                cut = blank;
                para = a;
                fences_before = fences;
            }
            blank = SIZE_MAX;
            if (is_fence(p, e, &ch, &cnt, &bare)) fences++;
        }
        a = le + 1;
    }
    if (para == SIZE_MAX || fences != fences_before || fences % 2) return t;
    if (!starts_with_phrase(P->s + para, P->s + line_end(P, para), closing_phrases,
                            closing_phrases_en))
        return t;
    span head = trim(P, (span){t.a, cut, true});
    return span_len(head) ? head : t;
}

static const char *const preamble_phrases[] = {
    "はい、",   "はい。",           "はい！",       "了解", "承知",
    "もちろん", "かしこまりました", "新しいタスク", NULL};
static const char *const preamble_phrases_en[] = {"sure",      "here is", "here are",  "here's",
                                                  "okay",      "ok,",     "certainly", "of course",
                                                  "below are", NULL};

/* Drops a first line of chatter ("はい、新しいタスクを作成します。") when more text follows. */
static span strip_preamble(const parser *P, span t)
{
    size_t le = line_end(P, t.a);
    if (le >= t.b ||
        !starts_with_phrase(P->s + t.a, P->s + le, preamble_phrases, preamble_phrases_en))
        return t;
    span rest = trim(P, (span){le, t.b, true});
    return span_len(rest) ? rest : t;
}

/* ---- results ---- */

static void task_free_strings(isynth_task *t)
{
    isynth_free(t->id);
    isynth_free(t->instruction);
    isynth_free(t->input);
    isynth_free(t->output);
    isynth_free(t->eval_aspect);
}

void isynth_parsed_free(isynth_parsed *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++)
        task_free_strings(&p->tasks[i]);
    isynth_free(p->tasks);
    for (size_t i = 0; i < p->n_unparseable; i++)
        isynth_free(p->unparseable_text[i]);
    isynth_free(p->unparseable_text);
    isynth_free(p->unparseable_reasons);
    isynth_free(p);
}

static char *dup_span(const parser *P, span t)
{
    return isynth_strndup(P->s + t.a, span_len(t));
}

/* Models that write "**指示: text**" leave the closing "**" of a bold label inside the value:
 * a first line with an odd number of "**" loses its first unmatched one (and the space it
 * leaves at the end). */
static void drop_unmatched_bold(char *s)
{
    char *nl = strchr(s, '\n');
    size_t line = nl ? (size_t)(nl - s) : strlen(s);
    size_t count = 0;
    char *first = NULL;
    for (size_t i = 0; i + 1 < line; i++)
        if (s[i] == '*' && s[i + 1] == '*') {
            if (!first) first = s + i;
            count++;
            i++;
        }
    if (count % 2 == 0) return;
    /* the value must keep some text, with no blank at either end of the line */
    size_t a = (size_t)(first - s), b = a + 2;
    bool at_start = true, at_end = true;
    for (size_t i = 0; i < a; i++)
        if (s[i] != ' ' && s[i] != '\t') at_start = false;
    for (size_t i = b; i < line; i++)
        if (s[i] != ' ' && s[i] != '\t') at_end = false;
    if (at_start && at_end) return;
    if (at_start)
        while (b < line && (s[b] == ' ' || s[b] == '\t'))
            b++;
    if (at_end)
        while (a > 0 && (s[a - 1] == ' ' || s[a - 1] == '\t'))
            a--;
    memmove(s + a, s + b, strlen(s + b) + 1);
}

static isynth_err add_task(parser *P, span instr, span input, span output, long line)
{
    isynth_parsed *r = P->res;
    if (r->n == P->cap_tasks && ARRAY_GROW(r->tasks, P->cap_tasks, 8)) return ISYNTH_ERR_NOMEM;
    isynth_task t = {0};
    t.line = line;
    t.id = isynth_strndup("", 0);
    t.eval_aspect = isynth_strndup("", 0);
    t.instruction = dup_span(P, instr);
    t.input = dup_span(P, input);
    t.output = dup_span(P, output);
    if (!t.id || !t.eval_aspect || !t.instruction || !t.input || !t.output) {
        task_free_strings(&t);
        return ISYNTH_ERR_NOMEM;
    }
    drop_unmatched_bold(t.instruction);
    drop_unmatched_bold(t.input);
    drop_unmatched_bold(t.output);
    r->tasks[r->n++] = t;
    if (r->n >= P->prm.max_tasks) P->done = true;
    return ISYNTH_OK;
}

static isynth_err add_unparseable(parser *P, const char *reason, size_t a, size_t b)
{
    isynth_parsed *r = P->res;
    if (r->n_unparseable >= ISYNTH_PARSE_MAX_UNPARSEABLE) return ISYNTH_OK;
    if (!r->unparseable_reasons) {
        r->unparseable_reasons =
            isynth_calloc(ISYNTH_PARSE_MAX_UNPARSEABLE, sizeof *r->unparseable_reasons);
        if (!r->unparseable_reasons) return ISYNTH_ERR_NOMEM;
    }
    if (!r->unparseable_text) {
        r->unparseable_text =
            isynth_calloc(ISYNTH_PARSE_MAX_UNPARSEABLE, sizeof *r->unparseable_text);
        if (!r->unparseable_text) return ISYNTH_ERR_NOMEM;
    }
    span t = trim(P, (span){a, b, true});
    if (span_len(t) > ISYNTH_PARSE_MAX_FIELD) {
        t.b = t.a + ISYNTH_PARSE_MAX_FIELD;
        while (t.b > t.a && ((unsigned char)P->s[t.b] & 0xC0) == 0x80)
            t.b--;
    }
    char *text = dup_span(P, t);
    if (!text) return ISYNTH_ERR_NOMEM;
    r->unparseable_reasons[r->n_unparseable] = reason;
    r->unparseable_text[r->n_unparseable++] = text;
    return ISYNTH_OK;
}

/* A last block is complete when a closing fence or rule ended it, or a blank line follows its
 * text: the cut came after it. */
static bool block_complete(const parser *P, const block *b)
{
    if (b->closed) return true;
    span rest = trim(P, (span){b->start, P->n, true});
    if (!span_len(rest)) return false;
    int nl = 0;
    for (size_t i = rest.b; i < P->n; i++)
        nl += P->s[i] == '\n';
    return nl >= 2;
}

static isynth_err finish_block(parser *P, block *b, bool is_last)
{
    b->open = false;
    if (P->done) return ISYNTH_OK;
    span f[F_COUNT];
    for (int i = 0; i < F_COUNT; i++)
        f[i] = trim(P, b->f[i]);
    if (is_last && b->target != F_NONE) f[b->target] = strip_closing(P, f[b->target]);
    span instr = span_len(f[F_INSTR]) ? f[F_INSTR] : f[F_PRE];
    bool empty = true;
    for (int i = 0; i < F_COUNT; i++)
        empty = empty && !span_len(f[i]);
    const char *reason = NULL;
    if (is_last && P->prm.truncated && !block_complete(P, b))
        reason = "truncated";
    else if (empty)
        reason = "empty";
    else if (span_len(instr) > ISYNTH_PARSE_MAX_FIELD ||
             span_len(f[F_INPUT]) > ISYNTH_PARSE_MAX_FIELD ||
             (P->prm.want_output && span_len(f[F_OUTPUT]) > ISYNTH_PARSE_MAX_FIELD))
        reason = "too long";
    else if (!span_len(instr))
        reason = "no instruction";
    else if (P->prm.want_output && !span_len(f[F_OUTPUT]))
        reason = "no output";
    if (reason) return add_unparseable(P, reason, b->start, b->end);
    span none = {0, 0, true};
    span input = is_empty_input(P, f[F_INPUT]) ? none : f[F_INPUT];
    return add_task(P, instr, input, P->prm.want_output ? f[F_OUTPUT] : none, b->line);
}

/* ---- the line reader ---- */

static isynth_err start_block(parser *P, size_t off, bool header, long line)
{
    block *b = &P->cur;
    if (b->open) {
        b->end = off;
        isynth_err rc = finish_block(P, b, false);
        if (rc) return rc;
    }
    if (P->done) return ISYNTH_OK;
    bool first = !P->any_block;
    memset(b, 0, sizeof *b);
    b->open = true;
    b->header = header;
    b->start = b->end = off;
    b->line = line;
    b->target = F_PRE;
    if (!header && first && P->pending.set) {
        b->f[F_PRE] = P->pending;
        b->start = P->pending.a;
        b->line = P->pending_line;
    }
    P->any_block = true;
    P->in_fence = false;
    return ISYNTH_OK;
}

static void add_text(parser *P, size_t a, size_t e, long line)
{
    block *b = &P->cur;
    bool blank = is_blank(P->s + a, P->s + e);
    span *f;
    if (!b->open) {
        if (P->any_block) return;
        f = &P->pending;
        if (!f->set && !blank) P->pending_line = line;
    } else {
        b->end = e;
        if (b->target == F_NONE) return;
        f = &b->f[b->target];
    }
    if (f->set)
        f->b = e;
    else if (!blank)
        *f = (span){a, e, true};
}

/* True when a fence or rule line would be part of some text: an open field or the text before
 * any block. Elsewhere it is decoration around tasks and is skipped. */
static bool in_field(const parser *P)
{
    const block *b = &P->cur;
    if (!b->open) return P->pending.set;
    return b->target != F_NONE && (b->target != F_PRE || b->f[F_PRE].set);
}

/* A second "入力:" or "出力:" in a block, or "入力:" after "出力:", is text of the open
 * field (a sample "Input: 5 / Output: 120" inside an answer). */
static bool label_is_text(const parser *P, int f)
{
    const block *b = &P->cur;
    if (!b->open || f == F_INSTR) return false;
    return b->f[f].set || (f == F_INPUT && b->f[F_OUTPUT].set);
}

static isynth_err open_field(parser *P, int f, size_t label_at, size_t content, size_t e, long line)
{
    block *b = &P->cur;
    if (!b->open ||
        (f == F_INSTR && (b->f[F_INSTR].set || b->f[F_INPUT].set || b->f[F_OUTPUT].set))) {
        isynth_err rc = start_block(P, label_at, false, line);
        if (rc || P->done) return rc;
    }
    b->f[f] = (span){content, e, true};
    b->target = f;
    b->end = e;
    return ISYNTH_OK;
}

/* Ends the open field at a closing fence or rule. */
static void close_field(parser *P)
{
    P->wrapper = false;
    if (P->cur.open) {
        P->cur.target = F_NONE;
        P->cur.closed = true;
    }
}

/* Inside an open labelled field a keyword header counts only when a label or nothing follows it
 * on its line, or a label starts the next line: "タスク1: 買い物に行く" in an answer is text. */
static bool header_confirmed(const parser *P, const char *rest, const char *end, size_t e)
{
    const block *b = &P->cur;
    const char *c;
    if (!b->open || b->target == F_NONE || b->target == F_PRE) return true;
    while (match_header(P, rest, end, false, &c)) /* "タスク13: タスク14:" */
        rest = c;
    if (is_blank(rest, end)) return true;
    if (match_label(P, rest, end, false, &c, NULL) != F_NONE) return true;
    while (e < P->n) {
        size_t a = e + 1, le = line_end(P, a);
        if (!is_blank(P->s + a, P->s + le))
            return match_label(P, P->s + a, P->s + le, false, &c, NULL) != F_NONE;
        e = le;
    }
    return false;
}

static isynth_err read_line(parser *P, size_t a, size_t e, long line)
{
    const char *s = P->s, *p = s + a, *end = s + e;
    char ch;
    size_t cnt;
    bool bare;
    if (P->cur.open) P->cur.end = e;
    if (P->in_fence) {
        if (is_fence(p, end, &ch, &cnt, &bare) && ch == P->fence_ch && cnt >= P->fence_len &&
            bare) {
            P->in_fence = false;
            add_text(P, a, e, line);
            return ISYNTH_OK;
        }
        if (!fenced_header(P, p, end)) {
            add_text(P, a, e, line);
            return ISYNTH_OK;
        }
        P->in_fence = false;
    }
    if (is_blank(p, end)) {
        add_text(P, a, e, line);
        return ISYNTH_OK;
    }
    if (is_fence(p, end, &ch, &cnt, &bare)) {
        if (!in_field(P)) {
            P->wrapper = !P->wrapper;
            return ISYNTH_OK;
        }
        if (bare && (P->wrapper || next_structural(P, e))) {
            close_field(P);
            return ISYNTH_OK;
        }
        P->in_fence = true;
        P->fence_ch = ch;
        P->fence_len = cnt;
        add_text(P, a, e, line);
        return ISYNTH_OK;
    }
    if (is_rule(p, end)) {
        if (!in_field(P)) return ISYNTH_OK;
        if (next_structural(P, e)) {
            close_field(P);
            return ISYNTH_OK;
        }
        add_text(P, a, e, line);
        return ISYNTH_OK;
    }
    const char *q = p;
    for (;;) {
        const char *nx, *content;
        while (match_header(P, q, end, q == p, &nx) && header_confirmed(P, nx, end, e)) {
            isynth_err rc = start_block(P, (size_t)(q - s), true, line);
            if (rc || P->done) return rc;
            q = nx;
        }
        if (is_blank(q, end)) return ISYNTH_OK;
        int f = match_label(P, q, end, false, &content, NULL);
        if (f == F_NONE || label_is_text(P, f)) break;
        isynth_err rc = open_field(P, f, (size_t)(q - s), (size_t)(content - s), e, line);
        if (rc || P->done) return rc;
        /* "指示: タスク7", "指示: 指示:" from a base model: this label is empty, the header
         * or label after it is read next */
        const char *c;
        bool header = match_header(P, content, end, false, &nx) &&
                      (is_blank(nx, end) || match_label(P, nx, end, false, &c, NULL) != F_NONE);
        if (!header && match_label(P, content, end, false, &c, NULL) == F_NONE) return ISYNTH_OK;
        P->cur.f[f].b = (size_t)(content - s);
        q = content;
    }
    add_text(P, (size_t)(q - s), e, line);
    return ISYNTH_OK;
}

/* A numbered list item ("1. ...", "２）..."): returns its text and sets *v to its number. */
static const char *numbered_item(const char *p, const char *e, unsigned long *v)
{
    p = skip_space(p, e);
    const char *d = skip_digits(p, e, v);
    if (d == p) return NULL;
    size_t k = one_of(d, e, item_punct);
    if (!k) return NULL;
    d += k;
    if (d < e && skip_digits(d, e, NULL) != d) return NULL;
    return skip_space(d, e);
}

/* Two-stage mode, a reply without headers or labels that is a numbered list of instructions:
 * each item is one task. Returns false (and does nothing) when t is not such a list. */
static bool split_numbered(parser *P, span t, long line, isynth_err *rc)
{
    unsigned long v, expect = 0;
    size_t items = 0;
    for (size_t a = t.a; a < t.b;) {
        size_t le = line_end(P, a);
        if (le > t.b) le = t.b;
        if (numbered_item(P->s + a, P->s + le, &v) && (items == 0 || v == expect)) {
            items++;
            expect = v + 1;
        } else if (items == 0) {
            return false;
        }
        a = le + 1;
    }
    if (items < 2) return false;
    block b = {0};
    expect = 0;
    *rc = ISYNTH_OK;
    for (size_t a = t.a; a < t.b && !*rc && !P->done; line++) {
        size_t le = line_end(P, a);
        if (le > t.b) le = t.b;
        const char *c = numbered_item(P->s + a, P->s + le, &v);
        if (c && (!b.open || v == expect)) {
            if (b.open) *rc = finish_block(P, &b, false);
            memset(&b, 0, sizeof b);
            b.open = b.header = true;
            b.start = a;
            b.line = line;
            b.target = F_PRE;
            b.f[F_PRE] = (span){(size_t)(c - P->s), le, true};
            expect = v + 1;
        }
        b.end = b.f[F_PRE].b = le;
        a = le + 1;
    }
    if (!*rc && b.open) *rc = finish_block(P, &b, true);
    return true;
}

/* A reply with no header and no label: in two-stage mode it is one instruction (or a numbered
 * list of them); in one-stage mode it has no output. */
static isynth_err free_text(parser *P)
{
    span t = trim(P, P->pending);
    if (!span_len(t)) return ISYNTH_OK;
    long line = P->pending_line;
    if (!P->prm.want_output) {
        span u = strip_closing(P, strip_preamble(P, t));
        for (size_t i = t.a; i < u.a; i++)
            line += P->s[i] == '\n';
        isynth_err rc;
        if (split_numbered(P, u, line, &rc)) return rc;
        t = u;
    }
    block b = {0};
    b.open = b.header = true;
    b.start = P->pending.a;
    b.end = P->pending.b;
    b.line = line;
    b.target = F_NONE;
    b.f[F_PRE] = t;
    return finish_block(P, &b, true);
}

/* Marks which main label words (指示, Input...) the text uses anywhere. */
static void find_strong_labels(parser *P)
{
    for (size_t a = 0; a < P->n;) {
        size_t le = line_end(P, a);
        const char *q = P->s + a, *e = P->s + le, *nx, *c;
        while (match_header(P, q, e, false, &nx))
            q = nx;
        bool strong = false;
        int f = match_label(P, q, e, true, &c, &strong);
        if (f != F_NONE && strong) P->strong[f] = true;
        a = le + 1;
    }
}

isynth_parse_params isynth_parse_params_default(void)
{
    return (isynth_parse_params){
        .want_output = true, .truncated = false, .max_tasks = ISYNTH_PARSE_DEFAULT_MAX_TASKS};
}

/* What both parsers do first: check the arguments, set *P up with its parameters and an empty
 * result, and make *s the sanitised copy of the text with `room` bytes after it (a NUL first).
 * ISYNTH_ERR_NOMEM leaves what was allocated in *P and *s for the caller to free. */
static isynth_err parse_begin(const char *text, size_t len, const isynth_parse_params *params,
                              size_t room, parser *P, char **s, isynth_parsed **out,
                              isynth_error *err)
{
    isynth_error_clear(err);
    if (!out) return isynth_error_set(err, ISYNTH_ERR_INVALID, "parse: no result pointer");
    *out = NULL;
    if (!text && len)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "parse: NULL text of %zu bytes", len);
    if (len > ISYNTH_PARSE_MAX_INPUT)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "parse: response of %zu bytes is over the limit of %zu bytes", len,
                                ISYNTH_PARSE_MAX_INPUT);
    P->prm = params ? *params : isynth_parse_params_default();
    if (!P->prm.max_tasks) P->prm.max_tasks = ISYNTH_PARSE_DEFAULT_MAX_TASKS;
    const char *t = text ? text : "";
    P->n = utf8_scrub(t, len, NULL, true);
    *s = isynth_malloc(P->n + room);
    P->res = isynth_calloc(1, sizeof *P->res);
    if (!*s || !P->res) return ISYNTH_ERR_NOMEM;
    utf8_scrub(t, len, *s, true);
    (*s)[P->n] = '\0';
    P->s = *s;
    return ISYNTH_OK;
}

isynth_err isynth_parse_tasks(const char *text, size_t len, const isynth_parse_params *params,
                              isynth_parsed **out, isynth_error *err)
{
    parser P = {0};
    char *s = NULL;
    isynth_err rc = parse_begin(text, len, params, 1, &P, &s, out, err);
    if (rc == ISYNTH_ERR_NOMEM) goto fail;
    if (rc) return rc;

    find_strong_labels(&P);
    rc = ISYNTH_OK;
    long line = 1;
    for (size_t a = 0; a < P.n && !rc && !P.done; line++) {
        size_t le = line_end(&P, a);
        rc = read_line(&P, a, le, line);
        a = le + 1;
    }
    if (!rc && P.cur.open)
        rc = finish_block(&P, &P.cur, true);
    else if (!rc && !P.any_block && P.pending.set)
        rc = free_text(&P);
    if (rc) goto fail;
    isynth_free(s);
    *out = P.res;
    return ISYNTH_OK;
fail:
    isynth_free(s);
    isynth_parsed_free(P.res);
    return isynth_error_set(err, rc, "parse: %s", isynth_strerror(rc));
}

/* ---- JSON replies (a server that enforced isynth_prompt_json_schema) ---- */

/* The end of the last complete element of the "tasks" array, or 0: a reply cut by max_tokens
 * keeps its complete tasks once "]}" closes it there. Strings and escapes are skipped. */
static size_t last_complete_item(const char *s, size_t n)
{
    int depth = 0;
    size_t end = 0;
    for (size_t i = json_next_mark(s, n, 0); i < n; i = json_next_mark(s, n, i + 1)) {
        char c = s[i];
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 2 && c == '}') end = i + 1;
            if (depth < 0) return end;
        }
    }
    return end;
}

/* Small models copy the prompt's text format into the JSON values ("instruction": "指示: …"):
 * a value that starts with its own field's label loses it, as the text parser drops labels. */
static const char *const json_labels[3][4] = {{"指示文", "指示", "instruction", NULL},
                                              {"入力文", "入力", "input", NULL},
                                              {"出力", "output", NULL, NULL}};

static span drop_own_label(const parser *P, span t, int field)
{
    for (const char *const *w = json_labels[field]; *w; w++) {
        size_t k, c;
        if (lit_ci(P->s + t.a, P->s + t.b, *w, &k) &&
            (lit(P->s + t.a + k, P->s + t.b, ":", &c) || lit(P->s + t.a + k, P->s + t.b, "：", &c)))
            return trim(P, (span){t.a + k + c, t.b, true});
    }
    return t;
}

static char *json_field(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v) return NULL;
    span t = {0, strlen(v), true};
    parser P = {.s = v, .n = t.b};
    t = trim(&P, t);
    t = drop_own_label(&P, t, !strcmp(key, "instruction") ? 0 : !strcmp(key, "input") ? 1 : 2);
    if (!strcmp(key, "input") && is_empty_input(&P, t)) t.b = t.a;
    return isynth_strndup(v + t.a, t.b - t.a);
}

static isynth_err json_item(parser *P, json_t *item, long line)
{
    char *f[3] = {NULL, NULL, NULL};
    static const char *const keys[3] = {"instruction", "input", "output"};
    for (int i = 0; i < 3; i++)
        f[i] = json_field(item, keys[i]);
    const char *why = !f[0] || !f[0][0]                           ? "no instruction"
                      : P->prm.want_output && (!f[2] || !f[2][0]) ? "no output"
                      : !f[1]                                     ? "no input"
                                                                  : NULL;
    isynth_err rc = ISYNTH_OK;
    if (why) {
        char *dump = json_dumps(item, JSON_COMPACT);
        if (dump) {
            /* the raw item stands for the block, as in a text reply */
            parser Q = *P;
            Q.s = dump;
            Q.n = strlen(dump);
            rc = add_unparseable(&Q, why, 0, Q.n);
            free(dump);
        } else {
            rc = ISYNTH_ERR_NOMEM;
        }
    } else {
        isynth_parsed *r = P->res;
        if (r->n == P->cap_tasks) rc = ARRAY_GROW(r->tasks, P->cap_tasks, 8);
        if (!rc) {
            isynth_task t = {.line = line,
                             .id = isynth_strndup("", 0),
                             .eval_aspect = isynth_strndup("", 0),
                             .instruction = f[0],
                             .input = f[1],
                             .output = P->prm.want_output ? f[2] : isynth_strndup("", 0)};
            if (!P->prm.want_output) isynth_free(f[2]);
            f[0] = f[1] = f[2] = NULL;
            if (!t.id || !t.eval_aspect || !t.output) {
                task_free_strings(&t);
                rc = ISYNTH_ERR_NOMEM;
            } else {
                r->tasks[r->n++] = t;
                if (r->n >= P->prm.max_tasks) P->done = true;
            }
        }
    }
    for (int i = 0; i < 3; i++)
        isynth_free(f[i]);
    return rc;
}

isynth_err isynth_parse_json_tasks(const char *text, size_t len, const isynth_parse_params *params,
                                   isynth_parsed **out, isynth_error *err)
{
    parser P = {0};
    char *s = NULL;
    json_t *root = NULL;
    /* room for a closing "]}" after a cut reply */
    isynth_err rc = parse_begin(text, len, params, 3, &P, &s, out, err);
    if (rc == ISYNTH_ERR_NOMEM) goto fail;
    if (rc) return rc;
    root = json_loadb(s, P.n, JSON_REJECT_DUPLICATES, NULL);
    if (!root) {
        size_t end = last_complete_item(s, P.n);
        if (end) {
            memcpy(s + end, "]}", 3);
            root = json_loadb(s, end + 2, JSON_REJECT_DUPLICATES, NULL);
        }
    }
    rc = ISYNTH_OK;
    json_t *tasks = json_object_get(root, "tasks");
    size_t i;
    json_t *item;
    json_array_foreach(tasks, i, item)
    {
        if (rc || P.done) break;
        rc = json_is_object(item) ? json_item(&P, item, (long)i + 1)
                                  : add_unparseable(&P, "no instruction", 0, 0);
    }
    if (rc) goto fail;
    json_decref(root);
    isynth_free(s);
    *out = P.res;
    return ISYNTH_OK;
fail:
    json_decref(root);
    isynth_free(s);
    isynth_parsed_free(P.res);
    return isynth_error_set(err, rc, "parse: %s", isynth_strerror(rc));
}
