/* Row checks: junk that one task shows by itself. Small models write their prompt's framing
 * into the task, point at a passage they never wrote, loop, echo the question or answer in
 * another language; each check here names one of those failures. The text is NFKC already, so
 * every pattern is matched on plain UTF-8 bytes (ASCII case folded) and every count is in code
 * points; nothing here allocates except echo's letter arrays. */
#include "isynth/checks.h"
#include "isynth/normalize.h"
#include "isynth/prompt.h"
#include "isynth/rouge.h"
#include "internal.h"

#include <iconv.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATTERNS 256

enum { ROLE_INSTR, ROLE_INPUT, ROLE_OUTPUT };

typedef struct label {
    char *text;
    int role;
} label;

struct isynth_scaffold {
    char *task_words[16];
    size_t n_task_words;
    label labels[32];
    size_t n_labels;
    char *phrases[MAX_PATTERNS]; /* always framing when found: 新しいタスク, template lines */
    size_t n_phrases;
    /* framing in an answer only: the topic rule's subject without its brackets (医療に関する
     * 内容), which a task may well ask about but an answer only parrots from the prompt */
    char *answer_phrases[64];
    size_t n_answer_phrases;
};

static void set_detail(char *detail, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_detail(char *detail, size_t cap, const char *fmt, ...)
{
    if (!detail || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, cap, fmt, ap);
    va_end(ap);
    /* never leave half a UTF-8 character: not at the cut, and not where a quote was cut by
     * bytes (a "%.*s" of 60 bytes); a detail is written to JSON, which refuses invalid UTF-8 */
    size_t n = strlen(detail), o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const unsigned char *)detail + i, n - i);
        if (!l) {
            i++;
            continue;
        }
        memmove(detail + o, detail + i, l);
        o += l;
        i += l;
    }
    detail[o] = '\0';
}

/* ---- small UTF-8 helpers ---- */

static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *len)
{
    uint32_t cp = 0;
    size_t l = utf8_decode(s + i, n - i, &cp);
    if (len) *len = l ? l : 1;
    return cp;
}

/* The code point that ends before byte offset i, or 0 at the start. */
static uint32_t cp_before(const char *s, size_t i)
{
    if (i == 0) return 0;
    size_t j = i - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    uint32_t cp = 0;
    utf8_decode(s + j, i - j, &cp);
    return cp;
}

static bool is_letter(uint32_t c)
{
    return c > 0 && uc_kind_of((int32_t)c) == UC_ALNUM;
}

static bool is_kana(uint32_t c)
{
    ja_script k = ja_script_of(c);
    return k == JA_HIRAGANA || k == JA_KATAKANA;
}

static bool is_latin(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0x24F);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* ASCII case-insensitive search of needle in hay[from..n); offset or (size_t)-1. */
static size_t find_ci(const char *hay, size_t n, size_t from, const char *needle)
{
    size_t m = strlen(needle);
    if (!m || m > n) return (size_t)-1;
    for (size_t i = from; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && lower(hay[i + j]) == lower(needle[j]))
            j++;
        if (j == m) return i;
    }
    return (size_t)-1;
}

static bool starts_ci(const char *s, size_t n, const char *pre)
{
    size_t m = strlen(pre);
    if (m > n) return false;
    for (size_t j = 0; j < m; j++)
        if (lower(s[j]) != lower(pre[j])) return false;
    return true;
}

/* Letters (and digits) in s[0..n). */
static size_t count_letters(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0, l; i < n; i += l)
        c += is_letter(cp_at(s, n, i, &l));
    return c;
}

/* True when position i is at a line start, after optional spaces and list or emphasis marks. */
static bool at_line_start(const char *s, size_t i)
{
    while (i > 0) {
        char c = s[i - 1];
        if (c == '\n') return true;
        if (c != ' ' && c != '-' && c != '*' && c != '#' && c != '>' && c != '_') return false;
        i--;
    }
    return true;
}

static bool ascii_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- scaffolding ---- */

static isynth_err add_str(char **arr, size_t *n, size_t max, const char *s, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen(arr[i]) == len && !memcmp(arr[i], s, len)) return ISYNTH_OK;
    if (*n >= max) return ISYNTH_OK; /* enough patterns; the rest add nothing a reviewer needs */
    char *c = isynth_strndup(s, len);
    if (!c) return ISYNTH_ERR_NOMEM;
    arr[(*n)++] = c;
    return ISYNTH_OK;
}

static isynth_err add_label(isynth_scaffold *s, const char *text, int role)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (!strcmp(s->labels[i].text, text)) return ISYNTH_OK;
    if (s->n_labels >= sizeof s->labels / sizeof s->labels[0]) return ISYNTH_OK;
    char *c = isynth_strdup(text);
    if (!c) return ISYNTH_ERR_NOMEM;
    s->labels[s->n_labels].text = c;
    s->labels[s->n_labels++].role = role;
    return ISYNTH_OK;
}

/* Strips list marks, spaces, quotes and sentence punctuation from both ends of s[0..*n). */
static const char *trim_segment(const char *s, size_t *n)
{
    static const char *const edge[] = {" ",  "-", "\"", "「", "」", "『", "』", "、",
                                       "。", ",", ".",  ":",  "(",  ")",  "・"};
    bool again = true;
    while (again && *n) {
        again = false;
        for (size_t k = 0; k < sizeof edge / sizeof edge[0]; k++) {
            size_t m = strlen(edge[k]);
            if (*n >= m && !memcmp(s, edge[k], m)) {
                s += m;
                *n -= m;
                again = true;
            }
            if (*n >= m && !memcmp(s + *n - m, edge[k], m)) {
                *n -= m;
                again = true;
            }
        }
    }
    return s;
}

/* Splits one template line at its {{placeholders}} and keeps the pieces long enough to be
 * framing rather than ordinary words: min_chars code points. */
static isynth_err add_line_phrases(isynth_scaffold *s, const char *line, size_t len,
                                   size_t min_chars)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && !(j + 1 < len && line[j] == '{' && line[j + 1] == '{'))
            j++;
        size_t n = j - i;
        const char *seg = trim_segment(line + i, &n);
        if (n && isynth_normalize_utf8_chars(seg, n) >= min_chars) {
            char *norm = NULL;
            size_t nl = 0;
            isynth_err rc = isynth_normalize_text(seg, n, &norm, &nl, NULL);
            if (rc == ISYNTH_ERR_NOMEM) return rc;
            if (!rc) {
                rc = add_str(s->phrases, &s->n_phrases, MAX_PATTERNS, norm, nl);
                isynth_free(norm);
                if (rc) return rc;
            }
        }
        if (j >= len) break;
        const char *close = strstr(line + j, "}}");
        if (!close || (size_t)(close - line) >= len) break;
        i = (size_t)(close - line) + 2;
    }
    return ISYNTH_OK;
}

/* The topic rule gives its pieces at five characters ("に関する内容にすること"); other lines at
 * ten, so that short rule words stay ordinary text. */
static isynth_err add_template_lines(isynth_scaffold *s, const char *tmpl)
{
    for (const char *p = tmpl; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool topic = find_ci(p, len, 0, "{{topic}}") != (size_t)-1;
        isynth_err rc = add_line_phrases(s, p, len, topic ? 5 : 10);
        if (rc) return rc;
        p += len;
        if (*p) p++;
    }
    return ISYNTH_OK;
}

/* The start of the run of letters that ends at p (p itself when none). */
static const char *letters_before(const char *start, const char *p)
{
    while (p > start) {
        size_t back = 1;
        while (p - back > start && ((unsigned char)p[-(long)back] & 0xC0) == 0x80)
            back++;
        uint32_t cp = 0;
        utf8_decode(p - back, back, &cp);
        if (!is_letter(cp)) break;
        p -= back;
    }
    return p;
}

isynth_err isynth_scaffold_add_template(isynth_scaffold *s, const char *tmpl, isynth_error *err)
{
    isynth_err rc = add_template_lines(s, tmpl);
    /* the word just before {{next}}: "タスク{{next}}", "Task {{next}}", "Q{{next}}" */
    for (const char *q = strstr(tmpl, "{{next}}"); q && !rc; q = strstr(q + 8, "{{next}}")) {
        const char *b = q;
        while (b > tmpl && b[-1] == ' ')
            b--;
        const char *end = b;
        b = letters_before(tmpl, b);
        if (end > b) rc = add_str(s->task_words, &s->n_task_words, 16, b, (size_t)(end - b));
    }
    /* labels shown as 「LABEL:」 or "LABEL:" in the template */
    for (const char *p = tmpl; *p && !rc; p++) {
        if (*p != ':' && strncmp(p, "：", 3) != 0) continue;
        const char *b = letters_before(tmpl, p);
        size_t n = (size_t)(p - b);
        bool quoted = b > tmpl && (b[-1] == '"' || (b - tmpl >= 3 && !strncmp(b - 3, "「", 3)));
        if (quoted && n && isynth_normalize_utf8_chars(b, n) <= 12) {
            char *l = isynth_strndup(b, n);
            if (!l) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
            rc = add_label(s, l, -1);
            isynth_free(l);
        }
    }
    if (rc) return isynth_error_set(err, rc, "out of memory");
    return ISYNTH_OK;
}

isynth_err isynth_scaffold_new(isynth_scaffold **out, isynth_error *err)
{
    *out = NULL;
    isynth_scaffold *s = isynth_calloc(1, sizeof *s);
    if (!s) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_err rc = ISYNTH_OK;
    for (int l = 0; l < 2 && !rc; l++) {
        isynth_prompt_labels pl;
        isynth_prompt_labels_get(l ? ISYNTH_LANG_EN : ISYNTH_LANG_JA, &pl);
        rc = add_label(s, pl.instruction, ROLE_INSTR);
        if (!rc) rc = add_label(s, pl.input, ROLE_INPUT);
        if (!rc) rc = add_label(s, pl.output, ROLE_OUTPUT);
        size_t tn = strlen(pl.task);
        while (tn && pl.task[tn - 1] == ' ')
            tn--;
        if (!rc) rc = add_str(s->task_words, &s->n_task_words, 16, pl.task, tn);
        for (int two = 0; two < 2 && !rc; two++) {
            isynth_prompt_params pp = isynth_prompt_params_default();
            pp.lang = l ? ISYNTH_LANG_EN : ISYNTH_LANG_JA;
            pp.two_stage = two;
            const char *topic_rule;
            const char *text = isynth_prompt_instructions(&pp, &topic_rule);
            rc = add_template_lines(s, text);
            if (!rc) rc = add_template_lines(s, topic_rule);
        }
    }
    /* the examples' header words a model slips into, in the languages it slips into */
    static const char *const fixed[] = {
        "新しいタスク", "新たなタスク", "示例", "例子", "<noinput>",
        /* the prompt's opening, also reworded: あなたが何か新しいアシスタントの学習用データを… */
        "アシスタントの学習用データ", "答案:",
        /* the topic rule restated around any subject: 「映画のレビューを書く」に関する内容に
         * ついて、… (a task says 「X」について or 「X」に関する…を, not both) */
        "」に関する内容について"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && !rc; i++)
        rc = add_str(s->phrases, &s->n_phrases, MAX_PATTERNS, fixed[i], strlen(fixed[i]));
    /* the topic rule restated with its subject: 「文学」に関する内容から作られます */
    size_t n_topics;
    const char *const *topics = isynth_prompt_topics(ISYNTH_LANG_JA, &n_topics);
    for (size_t i = 0; i < n_topics && !rc; i++) {
        char pat[128];
        int len = snprintf(pat, sizeof pat, "「%s」に関する内容", topics[i]);
        if (len > 0 && (size_t)len < sizeof pat)
            rc = add_str(s->phrases, &s->n_phrases, MAX_PATTERNS, pat, (size_t)len);
        len = snprintf(pat, sizeof pat, "%sに関する内容", topics[i]);
        if (!rc && len > 0 && (size_t)len < sizeof pat)
            rc = add_str(s->answer_phrases, &s->n_answer_phrases, 64, pat, (size_t)len);
    }
    if (rc) {
        isynth_scaffold_free(s);
        return isynth_error_set(err, rc, "out of memory");
    }
    *out = s;
    return ISYNTH_OK;
}

void isynth_scaffold_free(isynth_scaffold *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_task_words; i++)
        isynth_free(s->task_words[i]);
    for (size_t i = 0; i < s->n_labels; i++)
        isynth_free(s->labels[i].text);
    for (size_t i = 0; i < s->n_phrases; i++)
        isynth_free(s->phrases[i]);
    for (size_t i = 0; i < s->n_answer_phrases; i++)
        isynth_free(s->answer_phrases[i]);
    isynth_free(s);
}

/* Length of "LABEL:" (label, optional spaces, colon) at s[i..n) when it is one, else 0. */
static size_t label_at(const char *s, size_t n, size_t i, const char *lab)
{
    if (!starts_ci(s + i, n - i, lab)) return 0;
    size_t j = i + strlen(lab);
    while (j < n && s[j] == ' ')
        j++;
    return j < n && s[j] == ':' ? j + 1 - i : 0;
}

static bool is_latin_word(const char *w)
{
    return w[0] && (unsigned char)w[0] < 0x80;
}

/* A Latin word must not be glued to letters on its left; a Japanese one must not follow a
 * letter of the same kind (データ入力: is not the 入力 label). */
static bool word_boundary(const char *s, size_t i)
{
    uint32_t b = cp_before(s, i);
    return !is_letter(b);
}

/* The first of phrases[0, np) found in t[0, n), or NULL. */
static const char *phrase_in(char *const *phrases, size_t np, const char *t, size_t n)
{
    for (size_t k = 0; k < np; k++)
        if (find_ci(t, n, 0, phrases[k]) != (size_t)-1) return phrases[k];
    return NULL;
}

const char *isynth_checks_scaffolding(const isynth_scaffold *s, const char *t, size_t n,
                                      unsigned flags, char *detail, size_t cap)
{
    bool code_task = flags & ISYNTH_SCAF_CODE_TASK;
    const char *ph = phrase_in(s->phrases, s->n_phrases, t, n);
    if (ph) {
        set_detail(detail, cap, "prompt text \"%s\"", ph);
        return "scaffolding";
    }
    if (!(flags & ISYNTH_SCAF_TASK_FIELD) &&
        (ph = phrase_in(s->answer_phrases, s->n_answer_phrases, t, n))) {
        set_detail(detail, cap, "the prompt's subject rule \"%s\"", ph);
        return "scaffolding";
    }
    /* task numbers: タスク5 anywhere; "Task 3" at a line start or before a colon */
    for (size_t k = 0; k < s->n_task_words; k++) {
        const char *w = s->task_words[k];
        bool latin = is_latin_word(w);
        for (size_t at = find_ci(t, n, 0, w); at != (size_t)-1; at = find_ci(t, n, at + 1, w)) {
            size_t j = at + strlen(w);
            while (j < n && t[j] == ' ')
                j++;
            size_t d = j;
            while (d < n && ascii_digit(t[d]))
                d++;
            if (d == j || (latin && !word_boundary(t, at))) continue;
            if (latin && (at > 0 && !at_line_start(t, at)) && !(d < n && t[d] == ':')) continue;
            set_detail(detail, cap, "task number \"%.*s\"", (int)(d - at), t + at);
            return "scaffolding";
        }
    }
    /* field labels */
    bool roles[3] = {false, false, false}, any = false;
    size_t first = 0;
    while (first < n && (t[first] == ' ' || t[first] == '\n'))
        first++;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)t[i] & 0xC0) == 0x80) continue;
        for (size_t k = 0; k < s->n_labels; k++) {
            size_t l = label_at(t, n, i, s->labels[k].text);
            if (!l || !word_boundary(t, i)) continue;
            int role = s->labels[k].role;
            const char *why = NULL;
            if (i == first)
                why = "a field that starts with the label";
            else if (role == ROLE_INSTR)
                why = "the instruction label";
            else if (role < 0 && at_line_start(t, i))
                why = "a template label";
            else if ((flags & ISYNTH_SCAF_TASK_FIELD) && !code_task)
                why = "a field label inside the task";
            if (role == ROLE_INPUT) {
                size_t j = i + l;
                while (j < n && t[j] == ' ')
                    j++;
                if (starts_ci(t + j, n - j, "なし") || starts_ci(t + j, n - j, "<noinput>") ||
                    starts_ci(t + j, n - j, "none"))
                    why = "an empty-input marker";
            }
            if (why) {
                set_detail(detail, cap, "%s \"%.*s\"", why, (int)l, t + i);
                return "scaffolding";
            }
            if (role >= 0) roles[role] = true;
            any = true;
        }
    }
    if (roles[ROLE_INPUT] && roles[ROLE_OUTPUT] && !code_task) {
        set_detail(detail, cap, "input and output labels inside one field");
        return "scaffolding";
    }
    /* example labels (例1:, Example 2:) are framing when the field also shows a label, or when
     * an instruction starts with one */
    if (any || (flags & ISYNTH_SCAF_INSTRUCTION)) {
        static const char *const ex[] = {"例", "Example"};
        for (size_t k = 0; k < 2; k++)
            for (size_t at = find_ci(t, n, 0, ex[k]); at != (size_t)-1;
                 at = find_ci(t, n, at + 1, ex[k])) {
                size_t j = at + strlen(ex[k]);
                while (j < n && t[j] == ' ')
                    j++;
                size_t d = j;
                while (d < n && ascii_digit(t[d]))
                    d++;
                if (d > j && d < n && t[d] == ':' && at_line_start(t, at) && (any || at == first)) {
                    set_detail(detail, cap, "example label \"%.*s\"", (int)(d + 1 - at), t + at);
                    return "scaffolding";
                }
            }
    }
    return NULL;
}

/* ---- missing input ---- */

/* A reference is a demonstrative, a short gap and a noun for a text. Forward references
 * (次の, 以下の, the following) want the text after them; backward ones (この, 上記の, this, the
 * above) accept it anywhere. */
typedef struct ref_word {
    const char *w;
    bool backward;
} ref_word;
static const ref_word ja_refs[] = {{"次の", false},     {"以下の", false},   {"下記の", false},
                                   {"つぎの", false},   {"次に示す", false}, {"以下に示す", false},
                                   {"下に示す", false}, {"上記の", true},    {"この", true},
                                   {"下の", false},     {"上の", true}};
static const char *const ja_texts[] = {
    "文章",     "文",     "英文",       "和文",       "会話文",   "説明文",   "本文",   "原文",
    "長文",     "短文",   "問題文",     "文面",       "テキスト", "段落",     "記事",   "詩",
    "歌詞",     "会話",   "対話",       "メール",     "手紙",     "文書",     "リスト", "表",
    "単語",     "語句",   "コード",     "プログラム", "関数",     "データ",   "数式",   "式",
    "問題",     "質問",   "レビュー",   "引用",       "ニュース", "物語",     "小説",   "俳句",
    "短歌",     "例文",   "文字列",     "数列",       "数値",     "数字",     "主張",   "意見",
    "スピーチ", "セリフ", "台詞",       "表現",       "フレーズ", "言い回し", "一節",   "箇条書き",
    "ことわざ", "慣用句", "キーワード", "レシピ",     "メモ",     "議事録",   "報告書", "作文"};
static const ref_word en_refs[] = {
    {"the following", false}, {"following", false}, {"the given", true}, {"the provided", true},
    {"this", true},           {"these", true},      {"the above", true}, {"the below", false}};
static const char *const en_texts[] = {
    "passage",  "text",      "sentence", "paragraph", "article",      "email",     "e-mail",
    "letter",   "poem",      "story",    "list",      "table",        "code",      "program",
    "function", "data",      "review",   "dialogue",  "conversation", "statement", "excerpt",
    "quote",    "quotation", "word",     "phrase",    "numbers",      "equation",  "question",
    "problem",  "essay",     "lyrics",   "snippet",   "document",     "speech",    "report",
    "recipe",   "tweet",     "message"};

/* Letters inside a quotation in s[from..n): the longest 「」/『』/"" span. */
static size_t quoted_letters(const char *s, size_t n)
{
    static const char *const open[] = {"「", "『", "\"", "“"};
    static const char *const close[] = {"」", "』", "\"", "”"};
    size_t best = 0;
    for (size_t k = 0; k < 4; k++) {
        size_t from = 0;
        for (;;) {
            size_t a = find_ci(s, n, from, open[k]);
            if (a == (size_t)-1) break;
            a += strlen(open[k]);
            size_t b = find_ci(s, n, a, close[k]);
            if (b == (size_t)-1) break;
            size_t c = count_letters(s + a, b - a);
            if (c > best) best = c;
            from = b + strlen(close[k]);
        }
    }
    return best;
}

static bool sentence_end(uint32_t c)
{
    return c == 0x3002 || c == '?' || c == '!' || c == '\n' || c == ':' || c == '.';
}

/* The gap between a Japanese demonstrative and its noun: nothing, a modifier ending in の, い or
 * な (次の英語の文章, 次の短い文), or a Latin, digit or katakana word (次のPythonコード). */
static bool ja_gap_ok(const char *s, size_t a, size_t i)
{
    if (a == i) return true;
    uint32_t last = cp_before(s, i);
    if (last == 0x306E || last == 0x3044 || last == 0x306A) return true;
    for (size_t j = a, l; j < i; j += l) {
        uint32_t c = cp_at(s, i, j, &l);
        if (!is_latin(c) && !(c >= '0' && c <= '9') && c != ' ' && ja_script_of(c) != JA_KATAKANA)
            return false;
    }
    return true;
}

/* Finds a reference (demonstrative + text noun); its offsets and direction, or false. */
/* What "次の" means when it does not point at a text: the next day, week, stop, step... */
static const char *const next_in_time[] = {
    "日",   "週",   "月",   "年",   "休",     "朝",   "夜",   "春",       "夏",   "秋",
    "冬",   "駅",   "停",   "機会", "世代",   "時代", "段階", "ステップ", "回",   "番",
    "試合", "選挙", "大会", "旅",   "目的地", "人",   "方",   "ような",   "よう", "とおり",
    "通り", "点",   "3",    "2",    "4",      "5",    "二",   "三",       "四",   "五"};

/* 次の / 以下の / 下記の at the start of the instruction, followed by anything but a time or a
 * sequence: the instruction points at something it should hold ("次のゲームのタイトルを…"). */
static bool leading_reference(const char *s, size_t n, size_t *at, size_t *end)
{
    static const char *const lead[] = {"次の", "以下の", "下記の", "つぎの"};
    size_t a = 0;
    while (a < n && (s[a] == ' ' || s[a] == '\n'))
        a++;
    for (size_t r = 0; r < sizeof lead / sizeof lead[0]; r++) {
        if (!starts_ci(s + a, n - a, lead[r])) continue;
        size_t i = a + strlen(lead[r]);
        for (size_t k = 0; k < sizeof next_in_time / sizeof next_in_time[0]; k++)
            if (starts_ci(s + i, n - i, next_in_time[k])) return false;
        size_t e = i;
        for (int c = 0; c < 8 && e < n; c++) {
            size_t l;
            uint32_t cp = cp_at(s, n, e, &l);
            if (!is_letter(cp)) break;
            e += l;
        }
        *at = a;
        *end = e;
        return e > i;
    }
    return false;
}

static bool find_reference(const char *s, size_t n, size_t *at, size_t *end, bool *backward)
{
    if (leading_reference(s, n, at, end)) {
        *backward = false;
        return true;
    }
    for (size_t r = 0; r < sizeof ja_refs / sizeof ja_refs[0]; r++)
        for (size_t a = find_ci(s, n, 0, ja_refs[r].w); a != (size_t)-1;
             a = find_ci(s, n, a + 1, ja_refs[r].w)) {
            size_t g = a + strlen(ja_refs[r].w), i = g;
            for (int gap = 0; gap <= 8 && i < n; gap++) {
                for (size_t k = 0; k < sizeof ja_texts / sizeof ja_texts[0]; k++) {
                    if (!starts_ci(s + i, n - i, ja_texts[k]) || !ja_gap_ok(s, g, i)) continue;
                    size_t e = i + strlen(ja_texts[k]);
                    /* 文 is not 文法, 表 is not 表現: the noun must end the word */
                    if (e < n && ja_script_of(cp_at(s, n, e, NULL)) == JA_KANJI &&
                        ja_script_of(cp_before(s, e)) == JA_KANJI)
                        continue;
                    *at = a;
                    *end = e;
                    *backward = ja_refs[r].backward;
                    return true;
                }
                size_t l;
                uint32_t c = cp_at(s, n, i, &l);
                if (sentence_end(c) || c == 0x3001 || c == ',') break;
                i += l;
            }
        }
    for (size_t r = 0; r < sizeof en_refs / sizeof en_refs[0]; r++)
        for (size_t a = find_ci(s, n, 0, en_refs[r].w); a != (size_t)-1;
             a = find_ci(s, n, a + 1, en_refs[r].w)) {
            if (!word_boundary(s, a)) continue;
            size_t i = a + strlen(en_refs[r].w);
            if (i < n && is_latin((unsigned char)s[i])) continue;
            /* up to two words between ("the following short English passage") */
            for (int words = 0; words <= 2 && i < n; words++) {
                while (i < n && s[i] == ' ')
                    i++;
                for (size_t k = 0; k < sizeof en_texts / sizeof en_texts[0]; k++) {
                    if (!starts_ci(s + i, n - i, en_texts[k])) continue;
                    size_t e = i + strlen(en_texts[k]);
                    if (e < n && lower(s[e]) == 's') e++;
                    if (e < n && is_latin((unsigned char)s[e])) continue;
                    *at = a;
                    *end = e;
                    *backward = en_refs[r].backward;
                    return true;
                }
                while (i < n && is_latin((unsigned char)s[i]))
                    i++;
                if (i < n && s[i] != ' ') break;
            }
        }
    /* "the sentence below", "the essay above" */
    for (size_t k = 0; k < sizeof en_texts / sizeof en_texts[0]; k++)
        for (size_t a = find_ci(s, n, 0, en_texts[k]); a != (size_t)-1;
             a = find_ci(s, n, a + 1, en_texts[k])) {
            size_t e = a + strlen(en_texts[k]);
            if (e < n && lower(s[e]) == 's') e++;
            if (!word_boundary(s, a) || (e < n && is_latin((unsigned char)s[e]))) continue;
            size_t i = e;
            while (i < n && s[i] == ' ')
                i++;
            bool below = starts_ci(s + i, n - i, "below"), above = starts_ci(s + i, n - i, "above");
            if (i == e || !(below || above)) continue;
            *at = a;
            *end = i + 5;
            *backward = above;
            return true;
        }
    return false;
}

const char *isynth_checks_missing_input(const char *instr, const char *input, char *detail,
                                        size_t cap)
{
    size_t n = strlen(instr);
    if (count_letters(input, strlen(input)) > 0) return NULL;
    size_t at, end;
    bool backward;
    if (!find_reference(instr, n, &at, &end, &backward)) return NULL;
    /* a quoted passage anywhere is the text */
    if (quoted_letters(instr, n) >= 4) return NULL;
    /* so is what follows the referring sentence, or for この/this what precedes it */
    size_t i = end;
    while (i < n) {
        size_t l;
        uint32_t c = cp_at(instr, n, i, &l);
        i += l;
        if (sentence_end(c)) break;
    }
    size_t around = count_letters(instr + i, n - i);
    if (backward) {
        size_t b = at;
        while (b > 0 && !sentence_end(cp_before(instr, b)))
            b--;
        around += count_letters(instr, b);
    }
    if (around >= 8) return NULL;
    set_detail(detail, cap, "\"%.*s\" but no text given", (int)(end - at), instr + at);
    return "missing_input";
}

/* ---- unbalanced brackets ---- */

typedef struct pair {
    uint32_t open, close;
} pair;

static const pair pairs[] = {{0x300C, 0x300D}, {0x300E, 0x300F}, {0x3010, 0x3011}, {'(', ')'},
                             {0x201C, 0x201D}, {0x300A, 0x300B}, {0x3008, 0x3009}};
#define N_PAIRS (sizeof pairs / sizeof pairs[0])

/* ")" after one to three letters or digits that start a line or follow a space: "1)", "a)" */
static bool list_marker(const char *s, size_t i)
{
    size_t j = i, k = 0;
    while (j > 0 && k < 4) {
        uint32_t c = cp_before(s, j);
        if (!is_letter(c)) break;
        size_t back = 1;
        while (j - back > 0 && ((unsigned char)s[j - back] & 0xC0) == 0x80)
            back++;
        j -= back;
        k++;
    }
    if (k == 0 || k > 3) return false;
    uint32_t b = cp_before(s, j);
    return b == 0 || b == '\n' || b == ' ' || b == 0x3001 || b == 0x3002;
}

const char *isynth_checks_unbalanced(const char *s, size_t n, char *detail, size_t cap)
{
    long depth[N_PAIRS] = {0};
    size_t first_open[N_PAIRS] = {0};
    for (size_t i = 0, l; i < n; i += l) {
        uint32_t c = cp_at(s, n, i, &l);
        for (size_t k = 0; k < N_PAIRS; k++) {
            if (c == pairs[k].open) {
                if (depth[k]++ == 0) first_open[k] = isynth_normalize_utf8_chars(s, i);
            } else if (c == pairs[k].close) {
                if (c == ')' && depth[k] == 0 && list_marker(s, i)) continue;
                if (depth[k] == 0) {
                    set_detail(detail, cap, "%.*s at character %zu closes nothing", (int)l, s + i,
                               isynth_normalize_utf8_chars(s, i) + 1);
                    return "unbalanced";
                }
                depth[k]--;
            }
        }
    }
    for (size_t k = 0; k < N_PAIRS; k++)
        if (depth[k] > 0) {
            char open[5] = {0};
            uint32_t o = pairs[k].open;
            if (o < 0x80)
                open[0] = (char)o;
            else if (o < 0x800) {
                open[0] = (char)(0xC0 | (o >> 6));
                open[1] = (char)(0x80 | (o & 0x3F));
            } else {
                open[0] = (char)(0xE0 | (o >> 12));
                open[1] = (char)(0x80 | ((o >> 6) & 0x3F));
                open[2] = (char)(0x80 | (o & 0x3F));
            }
            set_detail(detail, cap, "%s at character %zu never closed", open, first_open[k] + 1);
            return "unbalanced";
        }
    return NULL;
}

/* ---- repetition ---- */

/* Sentences (split at 。！？.!? and new lines) or lines: a unit of >= 4 letters seen 3 times. */
static const char *repeated_units(const char *s, size_t n, bool lines, char *detail, size_t cap)
{
    enum { MAXU = 512 };
    size_t st[MAXU], len[MAXU], nu = 0;
    size_t i = 0;
    while (i < n && nu < MAXU) {
        while (i < n && (s[i] == ' ' || s[i] == '\n'))
            i++;
        size_t b = i, l = 0;
        while (i < n) {
            uint32_t c = cp_at(s, n, i, &l);
            if (c == '\n') break;
            i += l;
            if (!lines && (c == 0x3002 || c == '!' || c == '?' || c == 0xFF01 || c == 0xFF1F ||
                           (c == '.' && (i >= n || s[i] == ' ' || s[i] == '\n'))))
                break;
        }
        size_t e = i;
        while (e > b && s[e - 1] == ' ')
            e--;
        if (e > b && count_letters(s + b, e - b) >= 4) {
            st[nu] = b;
            len[nu++] = e - b;
        }
    }
    for (size_t a = 0; a < nu; a++) {
        int seen = 1;
        for (size_t b = a + 1; b < nu; b++)
            seen += len[b] == len[a] && !memcmp(s + st[a], s + st[b], len[a]);
        if (seen >= 3) {
            set_detail(detail, cap, "%s \"%.*s\" %d times", lines ? "line" : "sentence",
                       (int)(len[a] > 60 ? 60 : len[a]), s + st[a], seen);
            return "repetition";
        }
    }
    return NULL;
}

const char *isynth_checks_repetition(const char *s, size_t n, char *detail, size_t cap)
{
    const char *r = repeated_units(s, n, true, detail, cap);
    if (!r) r = repeated_units(s, n, false, detail, cap);
    if (r) return r;
    /* code points, spaces dropped */
    enum { MAXC = 8192 };
    static _Thread_local uint32_t cps[MAXC];
    size_t m = 0;
    for (size_t i = 0, l; i < n && m < MAXC; i += l) {
        uint32_t c = cp_at(s, n, i, &l);
        if (c != ' ' && c != '\n') cps[m++] = c;
    }
    /* a unit of p characters back to back: ですですですです, ハハハハ... */
    for (size_t p = 1; p <= 32; p++) {
        size_t run = 0;
        for (size_t i = p; i < m; i++) {
            run = cps[i] == cps[i - p] ? run + 1 : 0;
            size_t total = run + p, reps = total / p;
            size_t need_reps = p == 1 ? 10 : 4;
            if (reps >= need_reps && total >= 16) {
                size_t from = i + 1 - total;
                bool letters = false;
                for (size_t j = from; j < from + p; j++)
                    letters |= is_letter(cps[j]) && !(cps[j] >= '0' && cps[j] <= '9');
                if (!letters) continue;
                set_detail(detail, cap, "a unit of %zu characters repeated %zu times", p, reps);
                return "repetition";
            }
        }
    }
    /* most of the text inside repeated 6-grams */
    if (m >= 60) {
        enum { G = 6 };
        static _Thread_local unsigned char covered[MAXC];
        memset(covered, 0, m);
        size_t ngrams = m - G + 1;
        /* hash each 6-gram; a small open-addressing table of first positions */
        enum { TB = 16384 };
        static _Thread_local int32_t first[TB];
        static _Thread_local uint64_t keys[TB];
        for (size_t i = 0; i < TB; i++)
            first[i] = -1;
        for (size_t i = 0; i < ngrams; i++) {
            uint64_t h = 1469598103934665603ull;
            for (size_t j = 0; j < G; j++)
                h = (h ^ cps[i + j]) * 1099511628211ull;
            size_t slot = (size_t)(h & (TB - 1));
            bool placed = false;
            for (size_t probe = 0; probe < TB && !placed; probe++) {
                size_t q = (slot + probe) & (TB - 1);
                if (first[q] < 0) {
                    first[q] = (int32_t)i;
                    keys[q] = h;
                    placed = true;
                } else if (keys[q] == h && !memcmp(&cps[first[q]], &cps[i], G * sizeof cps[0])) {
                    memset(covered + first[q], 1, G);
                    memset(covered + i, 1, G);
                    placed = true;
                }
            }
        }
        size_t cov = 0;
        for (size_t i = 0; i < m; i++)
            cov += covered[i];
        if (cov * 10 > m * 6) {
            set_detail(detail, cap, "%zu%% of the text in repeated 6-grams", cov * 100 / m);
            return "repetition";
        }
    }
    return NULL;
}

/* ---- echo ---- */

/* Letters of s[0..n) as code points, Latin lower-cased; *out allocated, NULL when empty. */
static isynth_err letters_of(const char *s, size_t n, uint32_t **out, size_t *m)
{
    *out = NULL;
    *m = 0;
    size_t cnt = count_letters(s, n);
    if (!cnt) return ISYNTH_OK;
    uint32_t *a = isynth_malloc(cnt * sizeof *a);
    if (!a) return ISYNTH_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0, l; i < n; i += l) {
        uint32_t c = cp_at(s, n, i, &l);
        if (!is_letter(c)) continue;
        a[k++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    *out = a;
    *m = k;
    return ISYNTH_OK;
}

/* Byte length of the first sentence (or line) of s. */
static size_t first_sentence(const char *s, size_t n)
{
    for (size_t i = 0, l; i < n; i += l) {
        uint32_t c = cp_at(s, n, i, &l);
        if (c == 0x3002 || c == '?' || c == '!' || c == '\n' || c == ':') return i;
    }
    return n;
}

/* Content the output brings that the instruction does not hold: kanji and katakana absent from
 * the instruction, and Latin or digit words absent from it other than function words ("I will
 * explain" adds nothing). An answer brings content (東京, 1945); an echo does not. */
static size_t new_content(const char *instr, const uint32_t *I, size_t mi, const char *out)
{
    static const char *const function_words[] = {
        "i",   "we", "you",  "it",     "this", "that",   "is",   "are",  "was",  "be",
        "the", "a",  "an",   "to",     "of",   "and",    "so",   "will", "can",  "let",
        "me",  "us", "here", "here's", "my",   "answer", "sure", "ok",   "okay", "yes"};
    size_t n = strlen(out), ni = strlen(instr), cnt = 0;
    for (size_t i = 0, l; i < n; i += l) {
        uint32_t c = cp_at(out, n, i, &l);
        ja_script k = ja_script_of(c);
        if (k == JA_KANJI || k == JA_KATAKANA) {
            size_t j = 0;
            while (j < mi && I[j] != c)
                j++;
            cnt += j == mi;
        } else if (c < 0x80 && is_letter(c)) {
            size_t e = i;
            while (e < n && (unsigned char)out[e] < 0x80 &&
                   (is_letter((unsigned char)out[e]) || out[e] == '\''))
                e++;
            char w[32];
            size_t wl = e - i < sizeof w - 1 ? e - i : sizeof w - 1;
            for (size_t q = 0; q < wl; q++)
                w[q] = lower(out[i + q]);
            w[wl] = '\0';
            bool fn = false;
            for (size_t q = 0; q < sizeof function_words / sizeof function_words[0] && !fn; q++)
                fn = !strcmp(w, function_words[q]);
            bool seen = false;
            for (size_t at = find_ci(instr, ni, 0, w); at != (size_t)-1 && !seen;
                 at = find_ci(instr, ni, at + 1, w))
                seen = word_boundary(instr, at) &&
                       (at + wl >= ni || !is_letter((unsigned char)instr[at + wl]));
            cnt += !fn && !seen;
            l = e - i;
        }
    }
    return cnt;
}

/* A copy of s without the list marks that start its lines ("1. ", "2) ", "- ", "・"): the
 * numbers of a list are not content of the answer's own. NULL when out of memory. */
static char *without_list_marks(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *c = isynth_malloc(n + 1);
    if (!c) return NULL;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] == ' ')
            j++;
        size_t d = j;
        while (d < n && ascii_digit(s[d]))
            d++;
        bool mark = d > j && d < n && (s[d] == '.' || s[d] == ')') &&
                    !(d + 1 < n && ascii_digit(s[d + 1])); /* not "2.5倍" */
        if (mark)
            j = d + 1;
        else if (j < n && (s[j] == '-' || s[j] == '*') && j + 1 < n && s[j + 1] == ' ')
            j = j + 1;
        else if (n - j >= 3 && !memcmp(s + j, "・", 3))
            j += 3;
        else
            j = i;
        const char *e = memchr(s + j, '\n', n - j);
        size_t end = e ? (size_t)(e - s) + 1 : n;
        memcpy(c + o, s + j, end - j);
        o += end - j;
        i = end;
    }
    c[o] = '\0';
    return c;
}

isynth_err isynth_checks_echo(const char *instr, const char *output_in, const char **reason,
                              char *detail, size_t cap, isynth_error *err)
{
    *reason = NULL;
    char *output = without_list_marks(output_in);
    if (!output) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "echo check: out of memory");
    size_t ni = strlen(instr), no = strlen(output);
    uint32_t *I = NULL, *O = NULL, *S = NULL, *F = NULL;
    size_t mi, mo, ms, mf, lcs = 0, lcs_s = 0;
    isynth_err rc = letters_of(instr, ni, &I, &mi);
    if (!rc) rc = letters_of(output, no, &O, &mo);
    const char *nl = memchr(instr, '\n', ni);
    if (!rc && nl) rc = letters_of(instr, (size_t)(nl - instr), &F, &mf);
    if (!rc) rc = letters_of(instr, first_sentence(instr, ni), &S, &ms);
    if (rc) goto out;
    if (mi < 4 || mo == 0) goto out;
    if (F && mf == mo && !memcmp(F, O, mo * sizeof *O)) {
        *reason = "echo";
        set_detail(detail, cap, "the output is the instruction's first line");
        goto out;
    }
    if (mi >= 8 && mo > mi && !memcmp(I, O, mi * sizeof *O)) {
        *reason = "echo";
        set_detail(detail, cap, "the output starts by repeating the whole instruction");
        goto out;
    }
    if ((rc = isynth_lcs_length(I, mi, O, mo, &lcs))) goto out;
    size_t added = mo - lcs, allowed = mi * 3 / 10 > 8 ? mi * 3 / 10 : 8;
    if (lcs * 10 < mi * 6 || added >= allowed || new_content(instr, I, mi, output) >= 2) goto out;
    if (S && ms) {
        if ((rc = isynth_lcs_length(S, ms, O, mo, &lcs_s))) goto out;
        if (lcs_s * 10 < ms * 6) goto out;
    }
    *reason = "echo";
    set_detail(detail, cap, "the output restates %zu%% of the instruction and adds nothing new",
               lcs * 100 / mi);
out:
    isynth_free(output);
    isynth_free(I);
    isynth_free(O);
    isynth_free(S);
    isynth_free(F);
    if (rc) return isynth_error_set(err, rc, "echo check: %s", isynth_strerror(rc));
    return ISYNTH_OK;
}

/* ---- language of the answer ---- */

static bool mentions(const char *s, const char *const *words, size_t nw)
{
    size_t n = strlen(s);
    for (size_t k = 0; k < nw; k++)
        if (find_ci(s, n, 0, words[k]) != (size_t)-1) return true;
    return false;
}

bool isynth_checks_is_code_task(const char *instr)
{
    static const char *const code[] = {
        "プログラム", "コード",       "関数",      "スクリプト",
        "Python",     "JavaScript",   "SQL",       "Java",
        "C言語",      "C++",          "Rust",      "Go言語",
        "Ruby",       "PHP",          "HTML",      "CSS",
        "正規表現",   "クエリ",       "シェル",    "bash",
        "実装",       "アルゴリズム", "program",   "code",
        "function",   "script",       "regex",     "regular expression",
        "query",      "implement",    "algorithm", "class",
        "JSON",       "コマンド",     "command"};
    return mentions(instr, code, sizeof code / sizeof code[0]);
}

static bool other_language_task(const char *instr)
{
    static const char *const words[] = {
        "訳",      "英語",     "英文",           "英単語",     "英訳",     "ローマ字",
        "外国語",  "中国語",   "韓国語",         "フランス語", "ドイツ語", "スペイン語",
        "English", "translat", "Japanese",       "Chinese",    "Korean",   "French",
        "German",  "Spanish",  "in romaji",      "日本語で",   "Katakana", "Hiragana",
        "kanji",   "略語",     "アルファベット", "スペル",     "spell"};
    return mentions(instr, words, sizeof words / sizeof words[0]);
}

const char *isynth_checks_language_pair(const char *instr, const char *output, char *detail,
                                        size_t cap)
{
    if (other_language_task(instr) || isynth_checks_is_code_task(instr)) return NULL;
    size_t ni = strlen(instr), no = strlen(output);
    size_t i_kana = 0, i_kanji = 0, i_latin = 0;
    for (size_t i = 0, l; i < ni; i += l) {
        uint32_t c = cp_at(instr, ni, i, &l);
        i_kana += is_kana(c);
        i_kanji += ja_script_of(c) == JA_KANJI;
        i_latin += is_latin(c);
    }
    size_t o_kana = 0, o_ja = 0, o_letters = 0;
    for (size_t i = 0, l; i < no; i += l) {
        uint32_t c = cp_at(output, no, i, &l);
        if (!is_letter(c) || (c >= '0' && c <= '9')) continue;
        o_letters++;
        o_kana += is_kana(c);
        o_ja += ja_script_of(c) != JA_NONE;
    }
    bool ja = i_kana > 0 || i_kanji > i_latin;
    if (ja && o_letters >= 10 && o_kana == 0) {
        set_detail(detail, cap, "a Japanese instruction answered without kana (%s)",
                   o_ja ? "Chinese?" : "English?");
        return "wrong_language";
    }
    if (ja && o_letters >= 40 && o_ja * 10 < o_letters * 3) {
        set_detail(detail, cap, "a Japanese instruction answered mostly in another language");
        return "wrong_language";
    }
    if (!ja && i_latin > 0 && o_letters >= 10 && o_ja * 2 > o_letters) {
        set_detail(detail, cap, "an English instruction answered in Japanese");
        return "wrong_language";
    }
    return NULL;
}

/* ---- Chinese characters in Japanese text ---- */

static bool has_kana(const char *s, size_t n)
{
    for (size_t i = 0, l; i < n; i += l)
        if (is_kana(cp_at(s, n, i, &l))) return true;
    return false;
}

/* The ideographs of CJK Extension A and the Unified block (U+3400..U+9FFF) that Japanese
 * writes: those of JIS X 0208 and JIS X 0213 (every kanji of Japanese text, rare ones
 * included), found once by asking iconv which of them EUC-JISX0213 can encode. Simplified
 * Chinese forms (这 们 说 长 时 间) are not among them. When the converter is missing every
 * ideograph counts as Japanese, and the check passes everything. */
#define HAN_LO 0x3400u
#define HAN_HI 0xA000u
static unsigned char jis_han[(HAN_HI - HAN_LO) / 8];
static bool jis_han_ok;
static pthread_once_t jis_han_once = PTHREAD_ONCE_INIT;

static void jis_han_build(void)
{
    iconv_t cd = iconv_open("EUC-JISX0213", "UTF-8");
    if (cd == (iconv_t)-1) return;
    for (uint32_t c = HAN_LO; c < HAN_HI; c++) {
        char in[3] = {(char)(0xE0 | (c >> 12)), (char)(0x80 | ((c >> 6) & 0x3F)),
                      (char)(0x80 | (c & 0x3F))};
        char out[8], *ip = in, *op = out;
        size_t il = 3, ol = sizeof out;
        if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 && il == 0)
            jis_han[(c - HAN_LO) / 8] |= (unsigned char)(1u << ((c - HAN_LO) % 8));
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    iconv_close(cd);
    jis_han_ok = true;
}

static bool chinese_only(uint32_t c)
{
    if (c < HAN_LO || c >= HAN_HI || (c >= 0x4DC0 && c < 0x4E00)) return false;
    return !(jis_han[(c - HAN_LO) / 8] & (1u << ((c - HAN_LO) % 8)));
}

const char *isynth_checks_hanzi(const char *instr, const char *const *fields, size_t n_fields,
                                char *detail, size_t cap)
{
    static const char *const names[] = {"instruction", "input", "output"};
    if (other_language_task(instr) || isynth_checks_is_code_task(instr)) return NULL;
    pthread_once(&jis_han_once, jis_han_build);
    if (!jis_han_ok) return NULL;
    for (size_t f = 0; f < n_fields; f++) {
        const char *s = fields[f];
        size_t n = strlen(s);
        if (!has_kana(s, n) && !has_kana(instr, strlen(instr))) continue;
        for (size_t i = 0, l; i < n; i += l) {
            uint32_t c = cp_at(s, n, i, &l);
            if (!chinese_only(c)) continue;
            set_detail(detail, cap, "Chinese character %.*s in the %s (not a Japanese kanji)",
                       (int)l, s + i, f < 3 ? names[f] : "text");
            return "wrong_language";
        }
        /* Chinese words whose characters are all Japanese kanji too, so the check above
         * passes them: 公司 (会社), 没有, 手机, 可以, 怎么, 什么, 这个, 美国 (米国), and the
         * counter 个 (28个). A short list of words that Japanese text does not use, seen in the
         * default model's rows. */
        static const char *const zh_words[] = {"公司", "没有", "手机", "可以", "怎么",
                                               "什么", "这个", "美国", "个"};
        for (size_t k = 0; k < sizeof zh_words / sizeof zh_words[0]; k++)
            if (strstr(s, zh_words[k])) {
                set_detail(detail, cap, "Chinese word %s in the %s", zh_words[k],
                           f < 3 ? names[f] : "text");
                return "wrong_language";
            }
    }
    return NULL;
}

/* ---- not a request ---- */

/* A Japanese instruction asks for something: a request form (ください, なさい, せよ, ましょう,
 * てほしい), a question (か, ?, 何, なぜ, どう...), a rule (こと), or a sentence that ends on
 * the imperative て/で form (説明して。, 読んで). A statement (お手伝いします。, …にします。)
 * asks for nothing. */
static bool ja_asks(const char *s, size_t n)
{
    static const char *const anywhere[] = {
        "ください", "下さい",   "なさい",   "せよ",   "ましょう", "てほしい",
        "て欲しい", "でほしい", "?",        "か。",   "かな",     "でしょうか",
        "ますか",   "ですか",   "何",       "誰",     "こと。",   "たい。",
        "頼む",     "お願い",   "願います", "求めよ", "答えよ",   "述べよ"};
    for (size_t k = 0; k < sizeof anywhere / sizeof anywhere[0]; k++)
        if (find_ci(s, n, 0, anywhere[k]) != (size_t)-1) return true;
    /* question words in hiragana count at a word's start: などの, いつも, ことは are not them */
    static const char *const words[] = {"なぜ",   "どう",   "どの",   "どれ", "どこ",
                                        "どんな", "いくつ", "いくら", "いつ", "とは"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        for (size_t a = find_ci(s, n, 0, words[k]); a != (size_t)-1;
             a = find_ci(s, n, a + 1, words[k]))
            if (ja_script_of(cp_before(s, a)) != JA_HIRAGANA) return true;
    /* sentence ends: て, で, こと, か, よ (before 。, !, a new line or the end) */
    for (size_t i = 0, l = 1; i <= n; i += l) {
        uint32_t c = i < n ? cp_at(s, n, i, &l) : 0;
        if (i == n) l = 1;
        if (c && c != 0x3002 && c != '\n' && c != '!' && c != ':') continue;
        size_t e = i;
        while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '.'))
            e--;
        uint32_t last = cp_before(s, e);
        if (last == 0x3066 || last == 0x3067 || last == 0x304B || last == 0x3088 ||
            (e >= 6 && !memcmp(s + e - 6, "こと", 6)))
            return true;
    }
    return false;
}

/* True when instr compares a quotation with itself: 「X」と「X」 (or 『X』と『X』, "X" and "X"),
 * the same text on both sides of the join. */
static bool self_comparison(const char *instr)
{
    static const struct {
        const char *open, *join, *close;
    } forms[] = {{"「", "」と「", "」"}, {"『", "』と『", "』"}, {"\"", "\" and \"", "\""}};
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        size_t ol = strlen(forms[f].open), jl = strlen(forms[f].join);
        for (const char *j = strstr(instr, forms[f].join); j; j = strstr(j + 1, forms[f].join)) {
            /* the left quotation: back to its opening mark */
            const char *a = j;
            while ((size_t)(a - instr) >= ol && strncmp(a - ol, forms[f].open, ol) != 0)
                a--;
            if ((size_t)(a - instr) < ol) continue;
            size_t left = (size_t)(j - a);
            const char *b = j + jl, *e = strstr(b, forms[f].close);
            if (e && (size_t)(e - b) == left && left > 0 && !memcmp(a, b, left)) return true;
        }
    }
    return false;
}

const char *isynth_checks_request(const char *instr, char *detail, size_t cap)
{
    size_t len = strlen(instr);
    if (self_comparison(instr)) {
        set_detail(detail, cap, "the instruction compares a quotation with itself");
        return "no_request";
    }
    size_t d = 0;
    while (d < len && ascii_digit(instr[d]))
        d++;
    if ((d > 0 && d < len && (instr[d] == '.' || instr[d] == ')')) || starts_ci(instr, len, "- ")) {
        set_detail(detail, cap, "the instruction is an item of a list");
        return "no_request";
    }
    if (starts_ci(instr, len, "次に") || starts_ci(instr, len, "Next,") ||
        starts_ci(instr, len, "Then,")) {
        set_detail(detail, cap, "the instruction is a next step of something else");
        return "no_request";
    }
    if (has_kana(instr, len) && !ja_asks(instr, len)) {
        set_detail(detail, cap, "the instruction asks for nothing (no request or question)");
        return "no_request";
    }
    size_t n = strlen(instr);
    while (n && (instr[n - 1] == ' ' || instr[n - 1] == '\n'))
        n--;
    size_t a = 0;
    while (a < n && (instr[a] == ' ' || instr[a] == '\n'))
        a++;
    if (a >= n) return NULL;
    size_t l;
    uint32_t open = cp_at(instr, n, a, &l);
    size_t k = 0;
    while (k < N_PAIRS && pairs[k].open != open)
        k++;
    if (k == N_PAIRS && open != '"') return NULL;
    uint32_t close = k < N_PAIRS ? pairs[k].close : '"';
    /* the opening bracket's partner must be the last character, with nothing outside */
    long depth = 0;
    for (size_t i = a; i < n;) {
        size_t cl;
        uint32_t c = cp_at(instr, n, i, &cl);
        if (c == close && (close != '"' || i > a))
            depth--;
        else if (c == open)
            depth++;
        i += cl;
        if (depth == 0) {
            if (i < n) return NULL;
            set_detail(detail, cap, "the instruction is only a quotation");
            return "no_request";
        }
    }
    return NULL;
}

/* The input is the instruction again (80% of the longer one's letters in order): the model
 * filled the input field with the task itself, so there is nothing to work on. */
/* True when the letters n[0..nn) stand together, in order, inside h[0..nh). */
static bool contains_letters(const uint32_t *h, size_t nh, const uint32_t *n, size_t nn)
{
    for (size_t i = 0; i + nn <= nh; i++)
        if (!memcmp(h + i, n, nn * sizeof *n)) return true;
    return false;
}

/* True when the instruction holds the input inside quotation marks (「input」, "input"). */
static bool quoted_in(const char *instr, const char *input)
{
    size_t n = strlen(input);
    while (n && (input[n - 1] == ' ' || input[n - 1] == '\n'))
        n--;
    for (const char *p = strstr(instr, "「"); p; p = strstr(p, "「")) {
        p += strlen("「");
        if (!strncmp(p, input, n) && !strncmp(p + n, "」", strlen("」"))) return true;
    }
    for (const char *p = instr; (p = strchr(p, '"')) != NULL;) {
        p++;
        if (!strncmp(p, input, n) && p[n] == '"') return true;
    }
    return false;
}

static isynth_err input_repeats_instruction(const isynth_task *t, const char **reason, char *detail,
                                            size_t cap, isynth_error *err)
{
    uint32_t *I = NULL, *N = NULL;
    size_t mi, mn, lcs = 0;
    isynth_err rc = letters_of(t->instruction, strlen(t->instruction), &I, &mi);
    if (!rc) rc = letters_of(t->input, strlen(t->input), &N, &mn);
    if (!rc && mi >= 4 && mn >= 4) {
        size_t longer = mi > mn ? mi : mn;
        if (!(rc = isynth_lcs_length(I, mi, N, mn, &lcs)) && lcs * 10 >= longer * 8) {
            *reason = "echo";
            set_detail(detail, cap, "the input repeats the instruction (%zu%% of its letters)",
                       lcs * 100 / longer);
        }
    }
    /* the input is a phrase lifted from the instruction (公司の技術職員 from 公司の技術職員が
     * どのような…): it gives the task nothing. Not when the instruction quotes it (「…」, "…"),
     * which points at the input on purpose. */
    if (!rc && !*reason && mn >= 4 && mn < mi && contains_letters(I, mi, N, mn) &&
        !quoted_in(t->instruction, t->input)) {
        *reason = "echo";
        set_detail(detail, cap, "the input only repeats a phrase of the instruction");
    }
    /* or pieces of it stitched together, a word dropped here and there (6月10日14時から、
     * 6月11日の午後に… from …6月10日14時からの予定で、6月11日の午後に…): 90% of the input's
     * letters, 8 or more, in order in the instruction */
    if (!rc && !*reason && mn >= 8 && mn < mi && lcs * 10 >= mn * 9 &&
        !quoted_in(t->instruction, t->input)) {
        *reason = "echo";
        set_detail(detail, cap,
                   "the input repeats words of the instruction (%zu%% of its letters in order)",
                   lcs * 100 / mn);
    }
    isynth_free(I);
    isynth_free(N);
    if (rc) return isynth_error_set(err, rc, "echo check: %s", isynth_strerror(rc));
    return ISYNTH_OK;
}

/* The output is the input again (after NFKC, case folding, spaces and punctuation dropped): a
 * rewrite that changed nothing, or an answer copied from the task. */
static isynth_err echo_of_input(const isynth_task *t, const char **reason, char *detail, size_t cap,
                                isynth_error *err)
{
    char *ki = NULL, *ko = NULL;
    size_t li, lo;
    isynth_err rc = isynth_normalize_dedup_key(t->input, strlen(t->input), &ki, &li, err);
    if (!rc) rc = isynth_normalize_dedup_key(t->output, strlen(t->output), &ko, &lo, err);
    if (!rc && li > 0 && li == lo && !memcmp(ki, ko, li)) {
        *reason = "echo";
        set_detail(detail, cap, "the output is the input");
    }
    isynth_free(ki);
    isynth_free(ko);
    return rc;
}

/* A rewrite that changed nothing: the task asks to rewrite, paraphrase or correct a sentence it
 * quotes (「…」), and the output is that sentence again, give or take a closing です/だ/である
 * (「作物の長さは約300メートル」という文を…言い換えてください → 作物の長さは約300メートルです。,
 * a real row of the default model). Compared as dedup keys (NFKC, case folded, no spaces or
 * punctuation). */
static isynth_err echo_of_quote(const isynth_task *t, const char **reason, char *detail, size_t cap,
                                isynth_error *err)
{
    static const char *const rewrite[] = {"言い換", "書き換",  "言いかえ", "書きかえ",  "直して",
                                          "修正",   "rewrite", "rephrase", "paraphrase"};
    if (!mentions(t->instruction, rewrite, sizeof rewrite / sizeof rewrite[0])) return ISYNTH_OK;
    char *ko = NULL;
    size_t lo;
    isynth_err rc = isynth_normalize_dedup_key(t->output, strlen(t->output), &ko, &lo, err);
    static const char *const endings[] = {"である", "です", "だ"};
    for (size_t k = 0; !rc && k < sizeof endings / sizeof endings[0]; k++) {
        size_t el = strlen(endings[k]);
        if (lo > el && !memcmp(ko + lo - el, endings[k], el)) {
            lo -= el;
            break;
        }
    }
    const char *open = "「", *close = "」";
    for (const char *p = strstr(t->instruction, open); !rc && p; p = strstr(p, open)) {
        p += strlen(open);
        const char *e = strstr(p, close);
        if (!e) break;
        char *kq = NULL;
        size_t lq;
        if ((rc = isynth_normalize_dedup_key(p, (size_t)(e - p), &kq, &lq, err))) break;
        bool same = lq >= 4 && lq == lo && !memcmp(kq, ko, lq);
        isynth_free(kq);
        if (same) {
            *reason = "echo";
            set_detail(detail, cap, "the rewrite is the quoted sentence unchanged");
            break;
        }
        p = e;
    }
    isynth_free(ko);
    return rc;
}

/* The output is a piece of the task given back: its letters (20 or more) stand together, as
 * they are, inside the instruction or the input (a summary keeps letters in order but drops
 * some, so it is not a piece). Tasks that ask to extract or quote are not
 * checked; a correction that changed nothing is an echo too. */
static isynth_err echo_of_part(const isynth_task *t, const char **reason, char *detail, size_t cap,
                               isynth_error *err)
{
    static const char *const extract[] = {"抜き出",   "抜き書き", "抽出",  "引用", "書き出",
                                          "そのまま", "extract",  "quote", "copy", "list the"};
    for (size_t k = 0; k < sizeof extract / sizeof extract[0]; k++)
        if (find_ci(t->instruction, strlen(t->instruction), 0, extract[k]) != (size_t)-1)
            return ISYNTH_OK;
    /* the letters of instruction and input in one run: a piece of either, or of both at the
     * seam, is a contiguous run of it */
    buf both;
    buf_init(&both, BUF_MAX_TASK_TEXT);
    isynth_err rc;
    if ((rc = buf_adds(&both, t->instruction)) || (rc = buf_addc(&both, '\n')) ||
        (rc = buf_adds(&both, t->input))) {
        buf_free(&both);
        return buf_error(err, rc, &both, "echo check", "a task's instruction and input");
    }
    uint32_t *O = NULL, *F = NULL;
    size_t mo = 0, mf = 0;
    rc = letters_of(t->output, strlen(t->output), &O, &mo);
    if (!rc && mo >= 20) rc = letters_of(both.p, both.len, &F, &mf);
    size_t mi = count_letters(t->instruction, strlen(t->instruction));
    for (size_t at = 0; !rc && mo >= 20 && at + mo <= mf; at++) {
        if (memcmp(F + at, O, mo * sizeof *O)) continue;
        *reason = "echo";
        set_detail(detail, cap, "the output is a piece of the %s given back",
                   at + mo <= mi ? "instruction"
                   : at >= mi    ? "input"
                                 : "task");
        break;
    }
    isynth_free(O);
    isynth_free(F);
    buf_free(&both);
    if (rc) return isynth_error_set(err, rc, "echo check: %s", isynth_strerror(rc));
    return ISYNTH_OK;
}

/* ---- no answer ---- */

/* True when text has a line that starts (after spaces) with item number k ("2. …" or "2) …")
 * followed by the item's text. */
static bool list_item(const char *text, int k)
{
    char want[16];
    int wl = snprintf(want, sizeof want, "%d", k);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (!strncmp(q, want, (size_t)wl) && (q[wl] == '.' || q[wl] == ')')) {
            /* an item has text; "2." alone is the slot the answer is to fill */
            const char *t = q + wl + 1;
            while (*t == ' ')
                t++;
            if (*t && *t != '\n') return true;
        }
        if (!strncmp(q, "１．", 6) && k == 1) return true;
    }
    return false;
}

const char *isynth_checks_answer(const char *instr, const char *output, char *detail, size_t cap)
{
    size_t n = strlen(output);
    while (n && (output[n - 1] == ' ' || output[n - 1] == '\n'))
        n--;
    static const char *const refusals[] = {
        "申し訳ありませんが", "申し訳ございませんが", "すみませんが", "I'm sorry",
        "I am sorry",         "I apologize",          "As an AI",     "AIとして"};
    static const char *const cannot[] = {"できません",     "お答えできません", "答えられません",
                                         "ではありません", "cannot",           "can't",
                                         "unable"};
    /* a list that starts at its second item or later: the answer's beginning is missing
     * (unless the task asks for the rest of a list, or gives the items before the answer's
     * first one and not that one: "1. りんご\n2." answered "2. みかん"; a task that lists
     * items 1 to 3 answered from "2." skipped the first) */
    static const char *const continues[] = {"続", "continu", "next"};
    bool continued = mentions(instr, continues, sizeof continues / sizeof continues[0]);
    size_t b = 0;
    while (b < n && (output[b] == ' ' || output[b] == '\n'))
        b++;
    size_t d = b;
    while (d < n && ascii_digit(output[d]))
        d++;
    if (!continued && d > b && d - b <= 3) {
        int k = atoi(output + b);
        continued = list_item(instr, k - 1) && !list_item(instr, k);
    }
    size_t after = d + 1; /* the item's text: not "2.5倍", not the bare answer "2." */
    while (after < n && output[after] == ' ')
        after++;
    if (!continued && d > b && d - b <= 3 && d < n && (output[d] == '.' || output[d] == ')') &&
        !(d - b == 1 && (output[b] == '0' || output[b] == '1')) && d + 1 < n &&
        !ascii_digit(output[d + 1]) && n - after >= 4 && output[after] != '\n') {
        set_detail(detail, cap, "the output starts at item %.*s of a list", (int)(d - b),
                   output + b);
        return "no_answer";
    }
    static const char *const polite_tasks[] = {"断",     "お詫び", "謝",    "メール",
                                               "手紙",   "返信",   "refus", "declin",
                                               "apolog", "email",  "letter"};
    if (!mentions(instr, polite_tasks, sizeof polite_tasks / sizeof polite_tasks[0])) {
        for (size_t k = 0; k < sizeof refusals / sizeof refusals[0]; k++)
            if (starts_ci(output, n, refusals[k]) &&
                mentions(output, cannot, sizeof cannot / sizeof cannot[0])) {
                set_detail(detail, cap, "the output refuses the task");
                return "no_answer";
            }
        /* or a refusal in the first sentence, however it opens (私はAIとして…答えることは
         * できません) */
        static const char *const refuse[] = {"答えることはできません",
                                             "答えることができません",
                                             "お答えできません",
                                             "お答えすることはできません",
                                             "回答できません",
                                             "回答することはできません",
                                             "お手伝いできません",
                                             "お手伝いすることはできません",
                                             "回答を控え",
                                             "I cannot answer",
                                             "I can't answer",
                                             "I cannot help",
                                             "I can't help",
                                             "I am unable to",
                                             "I'm unable to"};
        size_t first = 0; /* the first sentence: up to 。 . ! ? or a line break */
        while (first < n && output[first] != '\n' && output[first] != '.' && output[first] != '!' &&
               output[first] != '?' && !(n - first >= 3 && !memcmp(output + first, "。", 3)))
            first++;
        for (size_t k = 0; k < sizeof refuse / sizeof refuse[0]; k++)
            if (find_ci(output, first, 0, refuse[k]) != (size_t)-1) {
                set_detail(detail, cap, "the output refuses the task");
                return "no_answer";
            }
    }
    /* the assistant talking about itself instead of answering (私はAIアシスタントで…), unless
     * the task asks about the assistant; or a bare offer of help (何か質問があれば…お知らせく
     * ださい) in a short answer, unless the task is a message that ends with one */
    static const char *const self[] = {"私はAI",     "私はアシスタント", "私は人工知能",
                                       "I am an AI", "I'm an AI",        "I am an artificial"};
    static const char *const about_self[] = {"あなた自身",   "自己紹介", "あなたは誰",
                                             "あなたの名前", "yourself", "who are you"};
    if (!mentions(instr, about_self, sizeof about_self / sizeof about_self[0])) {
        for (size_t k = 0; k < sizeof self / sizeof self[0]; k++)
            if (starts_ci(output + b, n - b, self[k])) {
                set_detail(detail, cap, "the output talks about the assistant, not the task");
                return "no_answer";
            }
        /* or is one short claim about itself (私は45歳です。, 私は日本語のアシスタントです。):
         * a persona the data would teach */
        size_t chars = isynth_normalize_utf8_chars(output + b, n - b);
        const char *stop = strstr(output + b, "。");
        bool one = !stop || (size_t)(stop - output) + 3 >= n;
        if (starts_ci(output + b, n - b, "私は") && chars <= 30 && one) {
            set_detail(detail, cap, "the output is a short claim about the assistant");
            return "no_answer";
        }
    }
    static const char *const offers[] = {
        "何か質問があれば",         "ご質問があれば",         "お手伝いできることがあれば",
        "お気軽にお知らせください", "何でもお知らせください", "Let me know if",
        "How can I help",           "How can I assist"};
    if (isynth_normalize_utf8_chars(output + b, n - b) <= 60 &&
        !mentions(instr, polite_tasks, sizeof polite_tasks / sizeof polite_tasks[0]))
        for (size_t k = 0; k < sizeof offers / sizeof offers[0]; k++)
            if (find_ci(output, n, 0, offers[k]) != (size_t)-1) {
                set_detail(detail, cap, "the output offers help instead of answering");
                return "no_answer";
            }
    /* one sentence that asks back: ...ますか。 / ...? */
    static const char *const asks_for_question[] = {
        "質問",     "問い",    "問題を作", "クイズ",     "聞き返",   "訳",     "書き換",
        "言い換",   "直して",  "丁寧",     "敬語",       "question", "quiz",   "ask",
        "translat", "rewrite", "rephrase", "paraphrase", "formal",   "polite", "correct"};
    if (mentions(instr, asks_for_question, sizeof asks_for_question / sizeof asks_for_question[0]))
        return NULL;
    /* sentence ends before the last character: more than one sentence */
    size_t ends = 0;
    for (size_t i = 0, l; i < n; i += l) {
        uint32_t c = cp_at(output, n, i, &l);
        if (c == 0x3002 || c == '?' || c == '!' || c == '\n' || c == '.') ends += i + l < n;
    }
    uint32_t end = cp_before(output, n);
    bool question = end == '?' || (end == 0x3002 && n >= 6 && !memcmp(output + n - 6, "か。", 6));
    if (question && ends == 0) {
        set_detail(detail, cap, "the output asks a question instead of answering");
        return "no_answer";
    }
    /* one sentence that asks the reader to do something (…を記載してください。), unless the task
     * is to write a request, a notice or a message */
    static const char *const asks_for_request[] = {
        "依頼", "お願い",  "頼",       "案内",       "呼びかけ", "注意",   "指示", "命令",   "標語",
        "掲示", "貼り",    "張り",     "アナウンス", "メール",   "手紙",   "返信", "文面",   "伝え",
        "促",   "request", "announce", "notice",     "email",    "letter", "sign", "message"};
    static const char *const request_ends[] = {"ください。", "ください", "下さい。", "下さい"};
    bool request = false;
    for (size_t k = 0; k < sizeof request_ends / sizeof request_ends[0] && !request; k++) {
        size_t l = strlen(request_ends[k]);
        request = n >= l && !memcmp(output + n - l, request_ends[k], l);
    }
    if (request && ends == 0 &&
        !mentions(instr, asks_for_request, sizeof asks_for_request / sizeof asks_for_request[0])) {
        set_detail(detail, cap, "the output is a request to the reader, not an answer");
        return "no_answer";
    }
    return NULL;
}

/* ---- all of them ---- */

isynth_err isynth_checks_task(const isynth_scaffold *s, const isynth_task *t, bool with_output,
                              const char **reason, char *detail, size_t cap, isynth_error *err)
{
    *reason = NULL;
    const char *fields[3] = {t->instruction, t->input, with_output ? t->output : ""};
    bool code = isynth_checks_is_code_task(t->instruction);
    for (size_t i = 0; i < 3 && !*reason; i++)
        if (s)
            *reason = isynth_checks_scaffolding(s, fields[i], strlen(fields[i]),
                                                (code ? ISYNTH_SCAF_CODE_TASK : 0u) |
                                                    (i == 0 ? ISYNTH_SCAF_INSTRUCTION : 0u) |
                                                    (i < 2 ? ISYNTH_SCAF_TASK_FIELD : 0u),
                                                detail, cap);
    if (!*reason) *reason = isynth_checks_request(t->instruction, detail, cap);
    if (!*reason) *reason = isynth_checks_missing_input(t->instruction, t->input, detail, cap);
    for (size_t i = 0; i < 3 && !*reason; i++)
        *reason = isynth_checks_unbalanced(fields[i], strlen(fields[i]), detail, cap);
    for (size_t i = 0; i < 3 && !*reason; i++)
        *reason = isynth_checks_repetition(fields[i], strlen(fields[i]), detail, cap);
    if (!*reason) *reason = isynth_checks_hanzi(t->instruction, fields, 3, detail, cap);
    isynth_err rc;
    if (!*reason && t->input[0] && (rc = input_repeats_instruction(t, reason, detail, cap, err)))
        return rc;
    if (*reason || !with_output || !t->output[0]) return ISYNTH_OK;
    rc = isynth_checks_echo(t->instruction, t->output, reason, detail, cap, err);
    if (rc || *reason) return rc;
    if (t->input[0] && ((rc = echo_of_input(t, reason, detail, cap, err)) || *reason)) return rc;
    if ((rc = echo_of_quote(t, reason, detail, cap, err)) || *reason) return rc;
    if ((rc = echo_of_part(t, reason, detail, cap, err)) || *reason) return rc;
    if ((*reason = isynth_checks_answer(t->instruction, t->output, detail, cap))) return ISYNTH_OK;
    *reason = isynth_checks_language_pair(t->instruction, t->output, detail, cap);
    return ISYNTH_OK;
}
