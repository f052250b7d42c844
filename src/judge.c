/* The LLM judge: a rubric prompt per row, a reply constrained to one JSON object, a parser, and
 * a driver that keeps a backend full.
 *
 * The one idea: the reply's fields are described once, in `fields` below, and everything that
 * depends on their shape is produced from that table: the JSON Schema sent to HTTP servers, the
 * GBNF grammar the embedded backend samples under, and the checks the parser applies. The three
 * cannot drift apart. */
#include "isynth/judge.h"

#include "internal.h"

#include <jansson.h>
#include <string.h>

/* ---- the one description of the reply ---- */

typedef enum field_kind { F_INT, F_STRING, F_STRING_LIST } field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    int lo, hi;    /* F_INT: the value's range; strings: the length range in characters */
    int max_items; /* F_STRING_LIST */
} field;

/* The order is the order of generation: the reason and the claims are written first and the
 * score last, conditioned on them (MT-Bench's judge asks for the explanation before the rating
 * for the same reason). */
enum { FLD_REASON, FLD_CLAIMS, FLD_SCORE, N_FIELDS };

static const field fields[N_FIELDS] = {
    [FLD_SCORE] = {"score", F_INT, ISYNTH_JUDGE_SCORE_MIN, ISYNTH_JUDGE_SCORE_MAX, 0},
    [FLD_REASON] = {"reason", F_STRING, 1, ISYNTH_JUDGE_REASON_MAX, 0},
    [FLD_CLAIMS] = {"false_claims", F_STRING_LIST, 1, ISYNTH_JUDGE_CLAIM_MAX,
                    ISYNTH_JUDGE_CLAIMS_MAX},
};

/* ---- JSON Schema from the table ---- */

/* json_object_set_new() releases v when it fails, so chains of these leak nothing. */
static bool set(json_t *o, const char *k, json_t *v)
{
    return v && !json_object_set_new(o, k, v);
}

/* {"type": "string", "minLength": lo, "maxLength": hi}, or NULL */
static json_t *string_schema(const field *f)
{
    json_t *o = json_object();
    if (o && set(o, "type", json_string("string")) && set(o, "minLength", json_integer(f->lo)) &&
        set(o, "maxLength", json_integer(f->hi)))
        return o;
    json_decref(o);
    return NULL;
}

static json_t *field_schema(const field *f)
{
    if (f->kind == F_STRING) return string_schema(f);
    json_t *o = json_object();
    bool ok = o != NULL;
    if (ok && f->kind == F_INT)
        ok = set(o, "type", json_string("integer")) && set(o, "minimum", json_integer(f->lo)) &&
             set(o, "maximum", json_integer(f->hi));
    else if (ok)
        ok = set(o, "type", json_string("array")) && set(o, "items", string_schema(f)) &&
             set(o, "maxItems", json_integer(f->max_items));
    if (ok) return o;
    json_decref(o);
    return NULL;
}

isynth_err isynth_judge_schema(char **out, isynth_error *err)
{
    *out = NULL;
    /* each part is made where it is handed over, so a failure leaves nothing unowned */
    json_t *root = json_object(), *props = NULL, *req = NULL;
    bool ok = root && set(root, "type", json_string("object")) &&
              set(root, "properties", props = json_object()) &&
              set(root, "required", req = json_array()) &&
              set(root, "additionalProperties", json_false());
    for (size_t i = 0; i < N_FIELDS && ok; i++)
        ok = set(props, fields[i].name, field_schema(&fields[i])) &&
             !json_array_append_new(req, json_string(fields[i].name));
    size_t n = ok ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;
    char *text = n ? isynth_malloc(n + 1) : NULL;
    if (text) {
        json_dumpb(root, text, n, JSON_COMPACT);
        text[n] = '\0';
    }
    json_decref(root);
    if (!text) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    *out = text;
    return ISYNTH_OK;
}

/* ---- GBNF from the table ---- */

/* GBNF rule names take letters, digits and '-': "false_claims" becomes "false-claims". */
static isynth_err add_rule_name(buf *b, const char *name)
{
    isynth_err rc = ISYNTH_OK;
    for (const char *c = name; *c && !rc; c++)
        rc = buf_addc(b, *c == '_' ? '-' : *c);
    return rc;
}

static isynth_err add_field_rules(buf *b, const field *f)
{
    isynth_err rc = add_rule_name(b, f->name);
    switch (f->kind) {
    case F_INT:
        /* the literals lo..hi, so any range stays exact */
        if (!rc) rc = buf_adds(b, " ::=");
        for (int v = f->lo; v <= f->hi && !rc; v++)
            rc = buf_printf(b, "%s \"%d\"", v > f->lo ? " |" : "", v);
        return rc ? rc : buf_adds(b, "\n");
    case F_STRING:
        return rc ? rc : buf_printf(b, " ::= \"\\\"\" char{%d,%d} \"\\\"\"\n", f->lo, f->hi);
    case F_STRING_LIST:
        if (!rc) rc = buf_adds(b, " ::= \"[\" ws ( ");
        if (!rc) rc = add_rule_name(b, f->name);
        if (!rc) rc = buf_adds(b, "-item ( ws \",\" ws ");
        if (!rc) rc = add_rule_name(b, f->name);
        if (!rc) rc = buf_printf(b, "-item ){0,%d} )? ws \"]\"\n", f->max_items - 1);
        if (!rc) rc = add_rule_name(b, f->name);
        return rc ? rc : buf_printf(b, "-item ::= \"\\\"\" char{%d,%d} \"\\\"\"\n", f->lo, f->hi);
    }
    return rc;
}

isynth_err isynth_judge_grammar(char **out, isynth_error *err)
{
    *out = NULL;
    buf b;
    buf_init(&b, BUF_MAX_GRAMMAR);
    isynth_err rc = buf_adds(&b, "root ::= \"{\" ws");
    for (size_t i = 0; i < N_FIELDS && !rc; i++) {
        if (i) rc = buf_adds(&b, " \",\" ws");
        if (!rc) rc = buf_printf(&b, " \"\\\"%s\\\"\" ws \":\" ws ", fields[i].name);
        if (!rc) rc = add_rule_name(&b, fields[i].name);
        if (!rc) rc = buf_adds(&b, " ws");
    }
    if (!rc) rc = buf_adds(&b, " \"}\"\n");
    for (size_t i = 0; i < N_FIELDS && !rc; i++)
        rc = add_field_rules(&b, &fields[i]);
    /* any character but '"', '\' and controls, or an escape; \u excludes the surrogate range so
     * every accepted string decodes. White space is bounded, as llama.cpp's own JSON grammars
     * do, so a small model cannot loop on it. */
    if (!rc)
        rc = buf_adds(&b, "char ::= [^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" "
                          "hex4 )\n"
                          "hex4 ::= [0-9a-cA-Ce-fE-F] hex hex hex | [dD] [0-7] hex hex\n"
                          "hex ::= [0-9a-fA-F]\n"
                          "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n");
    if (!rc) *out = buf_take(&b);
    buf_free(&b);
    if (rc || !*out) {
        *out = NULL;
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    return ISYNTH_OK;
}

/* ---- checking a reply against the table ---- */

static size_t code_points(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static isynth_err check_string(json_t *v, const field *f, const char *what, isynth_error *err)
{
    if (!json_is_string(v))
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply: %s is not a string", what);
    size_t n = code_points(json_string_value(v), json_string_length(v));
    if (n < (size_t)f->lo || n > (size_t)f->hi)
        return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                "judge reply: %s has %zu characters, outside %d..%d", what, n,
                                f->lo, f->hi);
    return ISYNTH_OK;
}

static isynth_err check_field(json_t *v, const field *f, isynth_error *err)
{
    char what[64];
    switch (f->kind) {
    case F_INT: {
        if (!json_is_integer(v))
            return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply: '%s' is not an integer",
                                    f->name);
        json_int_t x = json_integer_value(v);
        if (x < f->lo || x > f->hi)
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "judge reply: '%s' is %lld, outside %d..%d", f->name,
                                    (long long)x, f->lo, f->hi);
        return ISYNTH_OK;
    }
    case F_STRING:
        snprintf(what, sizeof what, "'%s'", f->name);
        return check_string(v, f, what, err);
    case F_STRING_LIST:
        if (!json_is_array(v))
            return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply: '%s' is not an array",
                                    f->name);
        if (json_array_size(v) > (size_t)f->max_items)
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "judge reply: '%s' has %zu items, more than %d", f->name,
                                    json_array_size(v), f->max_items);
        for (size_t i = 0; i < json_array_size(v); i++) {
            snprintf(what, sizeof what, "'%s'[%zu]", f->name, i);
            isynth_err rc = check_string(json_array_get(v, i), f, what, err);
            if (rc) return rc;
        }
        return ISYNTH_OK;
    }
    return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply: unknown field kind");
}

static isynth_err check_object(json_t *obj, isynth_error *err)
{
    if (!json_is_object(obj))
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply is JSON but not an object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (i < N_FIELDS && strcmp(fields[i].name, key))
            i++;
        if (i == N_FIELDS)
            return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply: unknown field '%.60s'",
                                    key);
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        v = json_object_get(obj, fields[i].name);
        if (!v)
            return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply: no '%s'", fields[i].name);
        isynth_err rc = check_field(v, &fields[i], err);
        if (rc) return rc;
    }
    return ISYNTH_OK;
}

void isynth_judgement_clear(isynth_judgement *j)
{
    if (!j) return;
    isynth_free(j->reason);
    for (size_t i = 0; i < j->n_false_claims; i++)
        isynth_free(j->false_claims[i]);
    isynth_free(j->false_claims);
    memset(j, 0, sizeof *j);
}

char *isynth_judgement_claims_json(const isynth_judgement *j)
{
    buf b;
    buf_init(&b, 1 << 20);
    isynth_err rc = buf_addc(&b, '[');
    for (size_t i = 0; i < j->n_false_claims && !rc; i++) {
        if (i) rc = buf_addc(&b, ',');
        if (!rc) rc = buf_add_json_str(&b, j->false_claims[i], strlen(j->false_claims[i]));
    }
    if (!rc) rc = buf_addc(&b, ']');
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

/* Copies a checked object into *out. */
static isynth_err fill(json_t *obj, isynth_judgement *out, isynth_error *err)
{
    json_t *reason = json_object_get(obj, fields[FLD_REASON].name);
    json_t *claims = json_object_get(obj, fields[FLD_CLAIMS].name);
    out->score = (int)json_integer_value(json_object_get(obj, fields[FLD_SCORE].name));
    out->reason = isynth_strndup(json_string_value(reason), json_string_length(reason));
    if (!out->reason) goto nomem;
    size_t n = json_array_size(claims);
    if (n) {
        out->false_claims = isynth_calloc(n, sizeof *out->false_claims);
        if (!out->false_claims) goto nomem;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(claims, i);
        out->false_claims[i] = isynth_strndup(json_string_value(c), json_string_length(c));
        if (!out->false_claims[i]) goto nomem;
        out->n_false_claims = i + 1;
    }
    return ISYNTH_OK;
nomem:
    isynth_judgement_clear(out);
    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
}

/* Checks and copies obj (a reference the caller keeps). */
static isynth_err take_object(json_t *obj, isynth_judgement *out, isynth_error *err)
{
    isynth_err rc = check_object(obj, err);
    return rc ? rc : fill(obj, out, err);
}

static isynth_err check_len(size_t len, isynth_error *err)
{
    if (len > ISYNTH_JUDGE_REPLY_MAX)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "judge reply of %zu bytes is over the limit of %u", len,
                                ISYNTH_JUDGE_REPLY_MAX);
    return ISYNTH_OK;
}

isynth_err isynth_judge_parse(const char *text, size_t len, isynth_judgement *out,
                              isynth_error *err)
{
    memset(out, 0, sizeof *out);
    isynth_err rc = check_len(len, err);
    if (rc) return rc;
    json_error_t je;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                "judge reply is not one JSON object: %s (at byte %d)", je.text,
                                je.position);
    rc = take_object(root, out, err);
    json_decref(root);
    return rc;
}

/* End of the balanced {...} that starts at s[0] == '{' (strings and escapes skipped), or 0
 * when the text ends first. */
static size_t balanced_end(const char *s, size_t n)
{
    int depth = 0;
    for (size_t i = json_next_mark(s, n, 0); i < n; i = json_next_mark(s, n, i + 1)) {
        if (s[i] == '{')
            depth++;
        else if (s[i] == '}' && --depth == 0)
            return i + 1;
    }
    return 0;
}

isynth_err isynth_judge_extract(const char *text, size_t len, isynth_judgement *out,
                                isynth_error *err)
{
    memset(out, 0, sizeof *out);
    isynth_err rc = check_len(len, err);
    if (rc) return rc;
    /* each start costs a scan to the end at worst: a bounded number of them keeps a hostile
     * reply (thousands of unmatched '{') linear */
    int starts = 0;
    for (size_t i = 0; text && i < len && starts < 64; i++) {
        if (text[i] != '{') continue;
        starts++;
        size_t end = balanced_end(text + i, len - i);
        if (!end) break; /* unclosed: no later start closes either */
        json_t *obj = json_loadb(text + i, end, JSON_REJECT_DUPLICATES, NULL);
        if (!obj) continue; /* braces in prose: try the next one */
        rc = take_object(obj, out, err);
        json_decref(obj);
        return rc;
    }
    return isynth_error_set(err, ISYNTH_ERR_PARSE, "judge reply holds no JSON object");
}

/* ---- the prompt ---- */

typedef struct rubric {
    const char *system;
    const char *head;   /* the rubric, then the row's sections */
    const char *parent; /* an evolved row's parent task, with the rule that goes with it */
    const char *instruction, *input, *output, *none;
    const char *tail;      /* the reply's form */
    const char *plain_cue; /* ends the plain prompt, where the reply starts */
} rubric;

static const rubric rubric_ja = {
    .system = "あなたは、AIアシスタントの学習用データの品質を審査する、厳格で公正な審査員です。",
    .head = "次の学習用データ（指示・入力・出力の組）を、評価基準に従って採点してください。\n\n"
            "# 評価基準\n"
            "1. 指示が明確で、それだけで完結していること。指示が「次の文章」「以下の表」"
            "などに言及するなら、その文章や表が指示か入力に実際に含まれていること。\n"
            "2. 出力が指示に正しく、漏れなく答えていること。\n"
            "3. 出力が日本語で書かれていること（指示が別の言語を求めるときは、その言語）。\n"
            "4. 出力に事実と異なると思われる主張があれば、それをすべて false_claims に"
            "書き出すこと。\n\n"
            "# 点数\n"
            "5: すべての基準を満たす優れたデータ\n"
            "4: 小さな問題が一つある\n"
            "3: 使えるが、はっきりした欠点がある\n"
            "2: 大きな誤りや欠落、または事実と異なる主張がある\n"
            "1: 使えない（指示が不完全、出力が誤りか無関係、または言語が違う）\n\n"
            "# データ\n",
    .parent = "## 元のタスク（このデータは、これをより難しく書き換えたものです。書き換えが元の"
              "タスクと実質的に同じなら、点数を2以下にしてください）\n",
    .instruction = "## 指示\n",
    .input = "## 入力\n",
    .output = "## 出力\n",
    .none = "なし",
    .tail = "# 回答の形式\n"
            "次の形のJSONオブジェクトだけを返してください。先に理由を書き、最後に点数を付けます。\n"
            "{\"reason\": \"点数の理由を日本語で一文（200字以内）\", "
            "\"false_claims\": [\"事実と異なると思われる主張\", ...], \"score\": 1から5の整数}\n"
            "事実と異なる主張がなければ、false_claims は空の配列 [] にしてください。",
    .plain_cue = "回答: ",
};

static const rubric rubric_en = {
    .system = "You are a strict and fair reviewer of training data for AI assistants.",
    .head = "Grade the following training example (an instruction, an input and an output) "
            "against the criteria.\n\n"
            "# Criteria\n"
            "1. The instruction is clear and complete on its own. If it refers to \"the "
            "following text\", \"the table below\" or the like, that text or table is actually "
            "present in the instruction or the input.\n"
            "2. The output answers the instruction correctly and completely.\n"
            "3. The output is in English (or in the language the instruction asks for).\n"
            "4. Every claim in the output that you believe is false is listed in "
            "false_claims.\n\n"
            "# Scores\n"
            "5: an excellent example that meets every criterion\n"
            "4: one minor problem\n"
            "3: usable, with a clear weakness\n"
            "2: a major error or omission, or a false claim\n"
            "1: unusable (incomplete instruction, wrong or unrelated output, or the wrong "
            "language)\n\n"
            "# Example\n",
    .parent = "## Original task (this example rewrites it to be harder; if the rewrite is "
              "essentially the same task, score it 2 or lower)\n",
    .instruction = "## Instruction\n",
    .input = "## Input\n",
    .output = "## Output\n",
    .none = "(none)",
    .tail = "# Reply format\n"
            "Reply with one JSON object of this form and nothing else; give the reason first and "
            "the score last:\n"
            "{\"reason\": \"one sentence on why (at most 200 characters)\", "
            "\"false_claims\": [\"a claim you believe is false\", ...], "
            "\"score\": an integer from 1 to 5}\n"
            "When there is no false claim, false_claims is the empty array [].",
    .plain_cue = "Answer: ",
};

isynth_judge_params isynth_judge_params_default(void)
{
    return (isynth_judge_params){
        .lang = ISYNTH_LANG_JA,
        .model_label = NULL,
        .max_tokens = 512,
        .temperature = 0.0f,
        .top_p = 1.0f,
        .seed = 0,
        .chat = true,
        .constrain = true,
    };
}

void isynth_judge_request_clear(isynth_judge_request *r)
{
    if (!r) return;
    isynth_free(r->system);
    isynth_free(r->user);
    isynth_free(r->prompt);
    isynth_free(r->schema);
    isynth_free(r->grammar);
    memset(r, 0, sizeof *r);
}

static isynth_err check_row_text(const char *s, const char *what, uint64_t id, isynth_error *err)
{
    size_t bad;
    if (s && !utf8_valid(s, strlen(s), &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                "row %llu: the %s is not valid UTF-8 (byte %zu)",
                                (unsigned long long)id, what, bad);
    return ISYNTH_OK;
}

/* A section: its heading, the text (or the "none" word when blank), a blank line. */
static isynth_err add_section(buf *b, const char *head, const char *text, const char *none)
{
    const char *t = text ? text : "";
    bool blank = true;
    for (const char *c = t; *c && blank; c++)
        blank = *c == ' ' || *c == '\t' || *c == '\n' || *c == '\r';
    isynth_err rc = buf_adds(b, head);
    if (!rc) rc = buf_adds(b, blank ? none : t);
    return rc ? rc : buf_adds(b, "\n\n");
}

isynth_err isynth_judge_request_build(const isynth_judge_params *p, const isynth_judge_row *row,
                                      isynth_judge_request *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    isynth_err rc;
    if ((rc = check_row_text(row->instruction, "instruction", row->id, err)) ||
        (rc = check_row_text(row->input, "input", row->id, err)) ||
        (rc = check_row_text(row->output, "output", row->id, err)) ||
        (rc = check_row_text(row->parent, "parent", row->id, err)))
        return rc;
    const rubric *r = p->lang == ISYNTH_LANG_EN ? &rubric_en : &rubric_ja;
    buf b;
    buf_init(&b, BUF_MAX_PROMPT);
    rc = buf_adds(&b, r->head);
    if (!rc && row->parent && row->parent[0]) rc = add_section(&b, r->parent, row->parent, r->none);
    if (!rc) rc = add_section(&b, r->instruction, row->instruction, r->none);
    if (!rc) rc = add_section(&b, r->input, row->input, r->none);
    if (!rc) rc = add_section(&b, r->output, row->output, r->none);
    if (!rc) rc = buf_adds(&b, r->tail);
    if (!rc && !(out->user = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    if (!rc && !(out->system = isynth_strdup(r->system))) rc = ISYNTH_ERR_NOMEM;
    if (!rc) rc = buf_printf(&b, "%s\n\n%s\n\n%s", r->system, out->user, r->plain_cue);
    if (!rc && !(out->prompt = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    buf_free(&b);
    if (rc) {
        isynth_judge_request_clear(out);
        return buf_error(err, rc, &b, NULL, "the judge's prompt");
    }
    if (p->constrain && ((rc = isynth_judge_schema(&out->schema, err)) ||
                         (rc = isynth_judge_grammar(&out->grammar, err)))) {
        isynth_judge_request_clear(out);
        return rc;
    }
    out->msgs[0] = (isynth_msg){"system", out->system};
    out->msgs[1] = (isynth_msg){"user", out->user};
    out->req = (isynth_gen_req){
        .id = row->id,
        .chat = p->chat,
        .msgs = out->msgs,
        .n_msgs = 2,
        .prompt = out->prompt,
        .max_tokens = p->max_tokens > 0 ? p->max_tokens : 512,
        .temperature = p->temperature,
        .top_p = p->top_p > 0 ? p->top_p : 1.0f,
        .seed = p->seed ^ row->id,
        .grammar = out->grammar,
        .json_schema = out->schema,
        .schema_name = "judgement",
    };
    return ISYNTH_OK;
}

/* ---- the driver ---- */

typedef struct run {
    const isynth_judge_params *p;
    isynth_judge_done_fn done;
    void *user;
    const char *model;
} run;

/* Calls done() for one outcome; its error is the run's, with a message even when it gave
 * none. */
static isynth_err report(run *r, isynth_judge_outcome *o, isynth_error *err)
{
    o->model = r->model;
    isynth_error cerr;
    isynth_error_clear(&cerr);
    isynth_err rc = r->done(r->user, o, &cerr);
    if (!rc) return ISYNTH_OK;
    if (!cerr.msg[0])
        isynth_error_set(&cerr, rc, "the judge's done callback failed: %s", isynth_strerror(rc));
    cerr.code = rc;
    if (err) *err = cerr;
    return rc;
}

/* One finished request: its judgement (or why there is none) goes to done(), whose error
 * stops the backend's step and the run. */
static isynth_err on_result(void *user, const isynth_gen_result *res, isynth_error *err)
{
    run *r = user;
    isynth_judge_outcome o = {
        .id = res->id,
        .status = res->status,
        .error = res->error,
        .reply = res->status == ISYNTH_OK ? (res->text ? res->text : "") : NULL,
        .reply_len = res->status == ISYNTH_OK ? res->len : 0,
        .constrained = res->constrained,
        .truncated = res->truncated,
        .prompt_tokens = res->prompt_tokens,
        .completion_tokens = res->completion_tokens,
        .retries = res->retries,
        .seconds = res->seconds,
    };
    if (res->status != ISYNTH_OK) {
        if (!o.error) o.error = isynth_strerror(res->status);
        return report(r, &o, err);
    }
    isynth_judgement j;
    isynth_error perr;
    isynth_err rc = res->constrained ? isynth_judge_parse(o.reply, o.reply_len, &j, &perr)
                                     : isynth_judge_extract(o.reply, o.reply_len, &j, &perr);
    if (rc == ISYNTH_ERR_NOMEM) {
        if (err) *err = perr;
        return rc;
    }
    if (rc) {
        if (res->truncated) {
            size_t n = strlen(perr.msg);
            snprintf(perr.msg + n, sizeof perr.msg - n, " (the reply was cut at max_tokens)");
        }
        o.status = rc;
        o.error = perr.msg;
    } else {
        o.judgement = &j;
    }
    isynth_err drc = report(r, &o, err);
    if (!rc) isynth_judgement_clear(&j);
    return drc;
}

/* Builds and submits one row; a row that cannot be sent is an outcome, not a failure. */
static isynth_err submit_row(isynth_backend *be, run *r, const isynth_judge_row *row,
                             isynth_error *err)
{
    isynth_judge_request jr;
    isynth_error berr;
    isynth_err rc = isynth_judge_request_build(r->p, row, &jr, &berr);
    if (rc == ISYNTH_ERR_UTF8) {
        isynth_judge_outcome o = {.id = row->id, .status = rc, .error = berr.msg};
        return report(r, &o, err);
    }
    if (rc) {
        if (err) *err = berr;
        return rc;
    }
    rc = isynth_backend_submit(be, &jr.req, err);
    isynth_judge_request_clear(&jr);
    return rc;
}

/* Asks next() for a row; its error, with a message even when it gave none. */
static isynth_err next_row(run *r, isynth_judge_next_fn next, isynth_judge_row *row, bool *more,
                           isynth_error *err)
{
    isynth_error nerr;
    isynth_error_clear(&nerr);
    memset(row, 0, sizeof *row);
    isynth_err rc = next(r->user, row, more, &nerr);
    if (!rc) return ISYNTH_OK;
    if (!nerr.msg[0])
        isynth_error_set(&nerr, rc, "the judge's next callback failed: %s", isynth_strerror(rc));
    nerr.code = rc;
    if (err) *err = nerr;
    return rc;
}

isynth_err isynth_judge_run(isynth_backend *be, const isynth_judge_params *p,
                            isynth_judge_next_fn next, isynth_judge_done_fn done, void *user,
                            volatile int *stop, isynth_error *err)
{
    if (!be || !p || !next || !done)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "judge: backend, parameters, next and done are required");
    isynth_backend_info info;
    isynth_backend_info_get(be, &info);
    run r = {.p = p, .done = done, .user = user};
    r.model = p->model_label ? p->model_label : info.model_name ? info.model_name : "";
    bool more = true;
    isynth_err rc;
    for (;;) {
        if (stop && *stop) return isynth_error_set(err, ISYNTH_ERR_CANCELLED, "interrupted");
        rc = ISYNTH_OK;
        while (more && isynth_backend_capacity(be) > 0) {
            isynth_judge_row row;
            if ((rc = next_row(&r, next, &row, &more, err))) return rc;
            if (!more) break;
            if ((rc = submit_row(be, &r, &row, err))) return rc;
        }
        if (isynth_backend_in_flight(be) == 0) {
            if (!more) return ISYNTH_OK;
            if (isynth_backend_capacity(be) == 0)
                return isynth_error_set(err, ISYNTH_ERR_BACKEND,
                                        "judge: the backend takes no request");
            continue; /* every row so far could not be sent: ask for more */
        }
        if ((rc = isynth_backend_step(be, on_result, &r, err))) return rc;
    }
}
