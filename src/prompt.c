/* Self-Instruct prompts. The example format ("タスクN / 指示: / 入力: / 出力:") is the
 * contract with parse.c: the model is asked to continue the numbering in the same shape. */
#include "isynth/prompt.h"
#include "internal.h"

#include <string.h>

typedef struct lang_text {
    const char *system;
    const char *topic_rule; /* appended to the built-in request when a topic is set */
    const char *task, *instr, *input, *output, *none;
    const char *tmpl, *tmpl_two_stage;
    const char *completion_head, *completion_head_two_stage;
    const char *answer_system;
    const char *json_rule, *json_rule_two_stage; /* added to the rules when the reply is JSON */
    const char *magpie;                          /* Magpie's system message */
    const char *evol_head, *evol_rules, *evol_grow_rule, *evol_ops[ISYNTH_EVOL_N], *evol_original;
} lang_text;

static const lang_text ja = {
    .system = "あなたは誠実で優秀な日本人のアシスタントです。",
    .topic_rule = "\n- 新しいタスクは、どれも「{{topic}}」に関する内容にすること。",
    .task = "タスク",
    .instr = "指示",
    .input = "入力",
    .output = "出力",
    .none = "なし",
    .tmpl = "あなたはAIアシスタントの学習用データを作る専門家です。以下は既存のタスクの例です。\n\n"
            "{{examples}}\n\n"
            "上の例を参考に、新しいタスクを{{count}}個作ってください。\n"
            "条件:\n"
            "- 例と同じ内容・同じ話題のタスクは作らず、例の文章を写さないこと。\n"
            "- 要約、分類、説明、アイデア出し、書き換え、計算、創作など、互いに種類の異なる"
            "タスクにすること。\n"
            "- 指示は日本語で具体的に書くこと。\n"
            "- 入力が必要なときは「入力:」に書き、不要なときは「入力: なし」と書くこと。\n"
            "- 出力には指示に対する正確で役に立つ回答を書き、不確かな事実は書かないこと。\n"
            "- 画像、音声、ファイル、インターネットを必要とするタスクは作らないこと。\n"
            "- 「タスク{{next}}」から番号を付け、例と同じ形式（指示、入力、出力）で書くこと。",
    .tmpl_two_stage =
        "あなたはAIアシスタントの学習用データを作る専門家です。以下は既存のタスクの例です。\n\n"
        "{{examples}}\n\n"
        "上の例を参考に、新しいタスクの指示を{{count}}個作ってください。\n"
        "条件:\n"
        "- 例と同じ内容・同じ話題の指示は作らず、例の文章を写さないこと。\n"
        "- 互いに種類の異なる指示にし、日本語で具体的に書くこと。\n"
        "- 入力が必要なときは「入力:」に書き、不要なときは「入力: なし」と書くこと。\n"
        "- 回答は書かないこと。\n"
        "- 「タスク{{next}}」から番号を付け、例と同じ形式（指示、入力）で書くこと。",
    .completion_head = "以下は、AIアシスタントに与えるさまざまなタスクと、その模範的な回答の"
                       "一覧です。各タスクは内容も話題も互いに異なります。\n\n",
    .completion_head_two_stage = "以下は、AIアシスタントに与えるさまざまなタスクの一覧です。"
                                 "各タスクは内容も話題も互いに異なります。\n\n",
    .answer_system = "あなたは誠実で優秀な日本人のアシスタントです。質問に正確に答えてください。",
    .json_rule = "\n- 回答は JSON で、\"tasks\" の配列に各タスクを \"instruction\"（指示）、"
                 "\"input\"（入力。不要なら空文字列）、\"output\"（出力）として書くこと。",
    .json_rule_two_stage =
        "\n- 回答は JSON で、\"tasks\" の配列に各タスクを \"instruction\"（指示）と"
        "\"input\"（入力。不要なら空文字列）として書くこと。",
    .magpie = "あなたは日本語で答えるアシスタントです。ユーザーは日本人で、日本語で具体的な"
              "質問や依頼を書きます。",
    .evol_head = "あなたはAIアシスタントの学習用データを作る専門家です。",
    .evol_ops =
        {
            "次のタスクを書き換えて、より難しくしてください。書き換え方: 制約や条件を一つ加える。",
            "次のタスクを書き換えて、より難しくしてください。書き換え方: 問いの深さと広がりを"
            "増し、より深い知識や考察を求める。",
            "次のタスクを書き換えて、より難しくしてください。書き換え方: 一般的な概念を、より"
            "具体的な概念に置き換える。",
            "次のタスクを書き換えて、より難しくしてください。書き換え方: 答えるのに何段階もの"
            "推論が要るように、段階を踏んで考えることをはっきり求める。",
            "次のタスクを書き換えて、より難しくしてください。書き換え方: 指示はほぼそのままに、"
            "入力の文章や表を長く、情報の多いものにする（入力がなければ、指示に合う入力を"
            "加える）。",
            "次のタスクを参考に、同じ分野の、より珍しい新しいタスクを一つ作ってください。長さと"
            "難しさは元のタスクと同じくらいにすること。",
        },
    .evol_rules = "\n条件:\n"
                  "- 人が読んで理解でき、一つの答えを書けるタスクにすること。\n"
                  "- 元のタスクにある入力（文章や表など）は省かず、「入力:」に書くこと。\n"
                  "- 「元のタスク」「書き換え」などの言葉を使わないこと。\n"
                  "- 答えは書かず、「指示:」と「入力:」（入力が不要なら「入力: なし」）の形式で"
                  "書くこと。",
    .evol_grow_rule = "\n- 元の指示に10〜20語ほど加えるにとどめ、冗長にしないこと。",
    .evol_original = "元のタスク",
};

static const lang_text en = {
    .system = "You are a helpful, honest assistant.",
    .topic_rule = "\n- Every new task must be about {{topic}}.",
    .task = "Task ",
    .instr = "Instruction",
    .input = "Input",
    .output = "Output",
    .none = "<noinput>",
    .tmpl = "You write training data for AI assistants. Here are some existing tasks.\n\n"
            "{{examples}}\n\n"
            "Following these examples, write {{count}} new tasks.\n"
            "Rules:\n"
            "- Do not repeat the topic or the wording of any example.\n"
            "- Make the tasks diverse: summarising, classifying, explaining, brainstorming, "
            "rewriting, calculating, creative writing, and so on.\n"
            "- When a task needs an input, put it after \"Input:\"; otherwise write "
            "\"Input: <noinput>\".\n"
            "- The output must be a correct, helpful answer; do not state uncertain facts.\n"
            "- Do not write tasks that need images, audio, files or the internet.\n"
            "- Number them from \"Task {{next}}\" and use the same format (Instruction, Input, "
            "Output).",
    .tmpl_two_stage = "You write training data for AI assistants. Here are some existing tasks."
                      "\n\n{{examples}}\n\n"
                      "Following these examples, write {{count}} new task instructions.\n"
                      "Rules:\n"
                      "- Do not repeat the topic or the wording of any example.\n"
                      "- Make them diverse and specific.\n"
                      "- When a task needs an input, put it after \"Input:\"; otherwise write "
                      "\"Input: <noinput>\".\n"
                      "- Do not write the answers.\n"
                      "- Number them from \"Task {{next}}\" and use the same format "
                      "(Instruction, Input).",
    .completion_head = "Below is a list of diverse tasks for an AI assistant, each with a "
                       "model answer. No two tasks share a topic.\n\n",
    .completion_head_two_stage = "Below is a list of diverse tasks for an AI assistant. No two "
                                 "tasks share a topic.\n\n",
    .answer_system = "You are a helpful, honest assistant. Answer accurately.",
    .json_rule = "\n- Reply in JSON: a \"tasks\" array whose items have \"instruction\", "
                 "\"input\" (\"\" when none) and \"output\".",
    .json_rule_two_stage = "\n- Reply in JSON: a \"tasks\" array whose items have "
                           "\"instruction\" and \"input\" (\"\" when none).",
    .magpie = "You are a helpful assistant. The user writes a specific question or request in "
              "English.",
    .evol_head = "You write training data for AI assistants. ",
    .evol_ops =
        {
            "Rewrite the task below to make it harder. Method: add one more constraint or "
            "requirement.",
            "Rewrite the task below to make it harder. Method: increase the depth and breadth of "
            "the inquiry, asking for deeper knowledge or insight.",
            "Rewrite the task below to make it harder. Method: replace general concepts with more "
            "specific ones.",
            "Rewrite the task below to make it harder. Method: make it explicitly require "
            "multiple steps of reasoning.",
            "Rewrite the task below to make it harder. Method: keep the instruction, and make the "
            "input text or table longer and richer in information (add one that fits the "
            "instruction when there is none).",
            "Taking the task below as inspiration, write one new, rarer task in the same domain, "
            "of about the same length and difficulty.",
        },
    .evol_rules = "\nRules:\n"
                  "- The task must be understandable by a person and answerable.\n"
                  "- Keep any input of the task (text, table) and write it after \"Input:\".\n"
                  "- Do not use the words \"original task\" or \"rewritten\".\n"
                  "- Do not answer it; write \"Instruction:\" and \"Input:\" (\"Input: "
                  "<noinput>\" when none).",
    .evol_grow_rule = "\n- Add only 10 to 20 words to the instruction; do not make it verbose.",
    .evol_original = "The task",
};

static const char *const topics_ja[] = {
    "料理",       "旅行",         "健康",     "歴史",           "自然科学",
    "仕事",       "教育",         "スポーツ", "音楽",           "環境",
    "お金と家計", "法律と暮らし", "家族",     "動物",           "天気と季節",
    "交通",       "言葉と文法",   "数学",     "プログラミング", "地理",
    "文学",       "美術",         "映画",     "ゲーム",         "趣味",
    "防災",       "医療",         "心理",     "経済",           "ビジネスメール",
    "接客",       "農業",         "宇宙",     "ファッション",   "住まい",
    "子育て",     "人間関係",     "就職活動", "日本の文化",     "ことわざと慣用句",
};
static const char *const topics_en[] = {
    "cooking",
    "travel",
    "health",
    "history",
    "science",
    "work",
    "education",
    "sports",
    "music",
    "the environment",
    "personal finance",
    "law",
    "family",
    "animals",
    "weather",
    "transport",
    "grammar",
    "mathematics",
    "programming",
    "geography",
    "literature",
    "art",
    "film",
    "games",
    "hobbies",
    "emergencies",
    "medicine",
    "psychology",
    "economics",
    "business email",
    "customer service",
    "farming",
    "space",
    "fashion",
    "housing",
};

const char *const *isynth_prompt_topics(isynth_lang lang, size_t *n)
{
    if (lang == ISYNTH_LANG_JA) {
        *n = sizeof topics_ja / sizeof topics_ja[0];
        return topics_ja;
    }
    *n = sizeof topics_en / sizeof topics_en[0];
    return topics_en;
}

isynth_prompt_params isynth_prompt_params_default(void)
{
    return (isynth_prompt_params){
        .lang = ISYNTH_LANG_JA,
        .template_text = NULL,
        .n_new = 3,
        .two_stage = false,
        .max_example_chars = 600,
        .topic = NULL,
    };
}

const char *isynth_prompt_instructions(const isynth_prompt_params *p, const char **topic_rule)
{
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    *topic_rule = p->template_text ? "" : L->topic_rule;
    if (p->template_text) return p->template_text;
    return p->two_stage ? L->tmpl_two_stage : L->tmpl;
}

void isynth_prompt_labels_get(isynth_lang lang, isynth_prompt_labels *out)
{
    const lang_text *L = lang == ISYNTH_LANG_JA ? &ja : &en;
    *out = (isynth_prompt_labels){L->task, L->instr, L->input, L->output, L->none};
}

void isynth_prompt_clear(isynth_prompt *pr)
{
    if (!pr) return;
    isynth_free(pr->system);
    isynth_free(pr->user);
    isynth_free(pr->completion);
    isynth_free(pr->parse_prefix);
    memset(pr, 0, sizeof *pr);
}

/* Appends at most max bytes of s, cut at a line (or UTF-8 character) boundary, with an
 * ellipsis when cut. */
static isynth_err add_capped(buf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return buf_add(b, s, n);
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    for (size_t i = cut; i > max / 2; i--)
        if (s[i] == '\n') {
            cut = i;
            break;
        }
    isynth_err rc = buf_add(b, s, cut);
    return rc ? rc : buf_adds(b, "\n…");
}

static isynth_err add_example(buf *b, const lang_text *L, size_t num, const isynth_task *t,
                              bool with_output, size_t max_chars)
{
    isynth_err rc = buf_printf(b, "%s%zu\n%s: %s\n%s: %s", L->task, num, L->instr, t->instruction,
                               L->input, t->input[0] ? t->input : L->none);
    if (!rc && with_output) {
        rc = buf_printf(b, "\n%s: ", L->output);
        if (!rc) rc = add_capped(b, t->output, max_chars);
    }
    return rc;
}

/* Replaces {{examples}}, {{count}}, {{next}} and {{topic}} in tmpl. */
static isynth_err fill(buf *out, const char *tmpl, const char *examples, int count, size_t next,
                       const char *topic)
{
    isynth_err rc = ISYNTH_OK;
    const char *p = tmpl;
    while (*p && !rc) {
        const char *q = strstr(p, "{{");
        if (!q) return buf_adds(out, p);
        rc = buf_add(out, p, (size_t)(q - p));
        if (rc) break;
        if (!strncmp(q, "{{examples}}", 12)) {
            rc = buf_adds(out, examples);
            p = q + 12;
        } else if (!strncmp(q, "{{count}}", 9)) {
            rc = buf_printf(out, "%d", count);
            p = q + 9;
        } else if (!strncmp(q, "{{next}}", 8)) {
            rc = buf_printf(out, "%zu", next);
            p = q + 8;
        } else if (!strncmp(q, "{{topic}}", 9)) {
            rc = buf_adds(out, topic ? topic : "");
            p = q + 9;
        } else {
            rc = buf_add(out, q, 2);
            p = q + 2;
        }
    }
    return rc;
}

/* A prompt that could not be built: out is emptied, the error names the cause. */
static isynth_err prompt_failed(isynth_prompt *out, isynth_err rc, isynth_error *err)
{
    isynth_prompt_clear(out);
    return rc == ISYNTH_ERR_TOO_LARGE
               ? isynth_error_set(err, rc,
                                  "building a prompt: the prompt is over the limit of %zu bytes",
                                  BUF_MAX_PROMPT)
               : isynth_error_set(err, rc, "building a prompt: %s", isynth_strerror(rc));
}

isynth_err isynth_prompt_build(const isynth_prompt_params *p, const isynth_task *const *examples,
                               size_t k, isynth_prompt *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    bool with_output = !p->two_stage;
    size_t maxc = p->max_example_chars ? p->max_example_chars : 600;
    buf ex, user, comp, prefix;
    buf_init(&ex, BUF_MAX_PROMPT);
    buf_init(&user, BUF_MAX_PROMPT);
    buf_init(&comp, BUF_MAX_PROMPT);
    buf_init(&prefix, 256); /* "<task><n>\n<instr>:" */
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < k && !rc; i++) {
        if (i) rc = buf_adds(&ex, "\n\n");
        if (!rc) rc = add_example(&ex, L, i + 1, examples[i], with_output, maxc);
    }
    const char *tmpl =
        p->template_text ? p->template_text : (p->two_stage ? L->tmpl_two_stage : L->tmpl);
    if (!rc) rc = fill(&user, tmpl, ex.p ? ex.p : "", p->n_new, k + 1, p->topic);
    if (!rc && p->topic && !p->template_text)
        rc = fill(&user, L->topic_rule, "", p->n_new, k + 1, p->topic);
    if (!rc && p->json_reply && !p->template_text)
        rc = buf_adds(&user, p->two_stage ? L->json_rule_two_stage : L->json_rule);
    /* completion form: a list the base model continues, ending on the next header */
    if (!rc) rc = buf_printf(&prefix, "%s%zu\n%s:", L->task, k + 1, L->instr);
    if (!rc) rc = buf_adds(&comp, p->two_stage ? L->completion_head_two_stage : L->completion_head);
    if (!rc && ex.len) rc = buf_add(&comp, ex.p, ex.len);
    if (!rc) rc = buf_adds(&comp, "\n\n");
    if (!rc) rc = buf_add(&comp, prefix.p, prefix.len);
    if (!rc) {
        out->system = isynth_strdup(L->system);
        out->user = buf_take(&user);
        out->completion = buf_take(&comp);
        out->parse_prefix = buf_take(&prefix);
        if (!out->system || !out->user || !out->completion || !out->parse_prefix)
            rc = ISYNTH_ERR_NOMEM;
    }
    buf_free(&ex);
    buf_free(&user);
    buf_free(&comp);
    buf_free(&prefix);
    return rc ? prompt_failed(out, rc, err) : ISYNTH_OK;
}

isynth_err isynth_prompt_answer(const isynth_prompt_params *p, const isynth_task *t,
                                isynth_prompt *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    buf user, comp;
    buf_init(&user, BUF_MAX_PROMPT);
    buf_init(&comp, BUF_MAX_PROMPT);
    isynth_err rc = buf_adds(&user, t->instruction);
    if (!rc && t->input[0]) rc = buf_printf(&user, "\n\n%s", t->input);
    if (!rc)
        rc = buf_printf(&comp, "%s: %s\n%s: %s\n%s:", L->instr, t->instruction, L->input,
                        t->input[0] ? t->input : L->none, L->output);
    if (!rc) {
        out->system = isynth_strdup(L->answer_system);
        out->user = buf_take(&user);
        out->completion = buf_take(&comp);
        out->parse_prefix = isynth_strdup("");
        if (!out->system || !out->user || !out->completion || !out->parse_prefix)
            rc = ISYNTH_ERR_NOMEM;
    }
    buf_free(&user);
    buf_free(&comp);
    return rc ? prompt_failed(out, rc, err) : ISYNTH_OK;
}

/* ---- the reply's shape, enforced: a GBNF grammar and a JSON schema ----
 *
 * The grammar is the example format above (add_example) and nothing looser: each task is the
 * language's header and number, then "指示: ", "入力: " and (one-stage) "出力: " fields, tasks
 * separated by one blank line, at most n_new of them. What the parser would read as a header,
 * a label, a rule or a fence cannot start a line of a field, so every text the grammar allows
 * parses back into exactly the tasks written:
 *   - no line starts (after bullets, marks, spaces or "1." numbering) with a label word or a
 *     task word of either language (指示 入力 出力 タスク instruction input output task, any
 *     case): the parser's main label words and headers;
 *   - no line is bullets or numbering alone ("---" is a rule, "12." a header);
 *   - code goes in fences opened and closed inside the field, so a fence never swallows the
 *     next task. */

static const char *const label_words[] = {"タスク",      "指示",  "入力",   "出力", "task",
                                          "instruction", "input", "output", NULL};
/* What may lead a line before its text: the parser's bullets and brackets, and spaces. */
#define LEAD_CHARS "#＃*＊_\\-・•>【\\[「『(（〔 \\t　"
#define DIGITS "0-9０-９"
#define NUM_PUNCT ".)．）、:："

typedef struct trie_node {
    uint32_t cp;
    int first_child, next_sibling;
    bool end;
} trie_node;

enum { TRIE_MAX = 96 };

static uint32_t fold(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int trie_build(trie_node *t)
{
    int n = 1;
    t[0] = (trie_node){0, -1, -1, false};
    for (size_t w = 0; label_words[w]; w++) {
        int cur = 0;
        const char *s = label_words[w];
        size_t len = strlen(s);
        for (size_t i = 0; i < len && !t[cur].end;) {
            uint32_t cp;
            i += utf8_decode(s + i, len - i, &cp);
            cp = fold(cp);
            int c = t[cur].first_child;
            while (c >= 0 && t[c].cp != cp)
                c = t[c].next_sibling;
            if (c < 0) {
                c = n++;
                t[c] = (trie_node){cp, -1, t[cur].first_child, false};
                t[cur].first_child = c;
            }
            cur = c;
        }
        t[cur].end = true;
    }
    return n;
}

/* Appends code point c as it must appear inside a GBNF character class (both cases for ASCII
 * letters). */
static isynth_err class_char(buf *b, uint32_t c)
{
    if (c >= 'a' && c <= 'z') return buf_printf(b, "%c%c", (char)c, (char)(c - 32));
    if (c == '\\' || c == ']' || c == '[' || c == '-' || c == '^')
        return buf_printf(b, "\\%c", (char)c);
    char u[5];
    size_t n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (n == 1)
        u[0] = (char)c;
    else if (n == 2)
        u[0] = (char)(0xC0 | (c >> 6)), u[1] = (char)(0x80 | (c & 0x3F));
    else if (n == 3)
        u[0] = (char)(0xE0 | (c >> 12)), u[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (c & 0x3F));
    else
        u[0] = (char)(0xF0 | (c >> 18)), u[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F));
    return buf_add(b, u, n);
}

/* One rule per trie node: "w<k>" is the rest of a line whose first letters so far are a
 * proper prefix of a label word (the root: the whole line, never empty). A branch that
 * completes a word is left out, which is what forbids it. */
static isynth_err trie_rules(buf *b, const trie_node *t, int k)
{
    isynth_err rc = buf_printf(b, "w%d ::= ", k);
    rc = rc ? rc : buf_adds(b, k ? "( [^" : "[^");
    for (int c = t[k].first_child; c >= 0 && !rc; c = t[c].next_sibling)
        rc = class_char(b, t[c].cp);
    if (!rc && k == 0) rc = buf_adds(b, LEAD_CHARS DIGITS "`~");
    rc = rc ? rc : buf_adds(b, "\\n] [^\\n]*");
    for (int c = t[k].first_child; c >= 0 && !rc; c = t[c].next_sibling) {
        if (t[c].end) continue;
        rc = buf_adds(b, " | [");
        rc = rc ? rc : class_char(b, t[c].cp);
        rc = rc ? rc : buf_printf(b, "] w%d", c);
    }
    rc = rc ? rc : buf_adds(b, k ? " )?\n" : "\n");
    for (int c = t[k].first_child; c >= 0 && !rc; c = t[c].next_sibling)
        if (!t[c].end) rc = trie_rules(b, t, c);
    return rc;
}

static isynth_err grammar_text(const isynth_prompt_params *p, bool completion, buf *b)
{
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    int n = p->n_new > 0 ? p->n_new : 1;
    trie_node t[TRIE_MAX];
    trie_build(t);
    buf head, last;
    buf_init(&head, 4096);
    buf_init(&last, 4096);
    /* a task as add_example writes it: "<task><n>\n<instr>: ...\n<input>: ...[\n<output>: ...]" */
    /* a blank line before a label is allowed: small models write one, and a grammar without it
       leaves them only mangled labels ("出出:") to write */
    isynth_err rc =
        buf_printf(&head, "\"%s\" [0-9]{1,3} \"\\n\" \"\\n\"? \"%s: \"", L->task, L->instr);
    if (!rc) rc = buf_printf(&last, " \"\\n\" \"\\n\"? \"%s: \" field", L->input);
    if (!rc && !p->two_stage) rc = buf_printf(&last, " \"\\n\" \"\\n\"? \"%s: \" field", L->output);
    /* a completion continues from "<task><n>\n<instr>:" (isynth_prompt.parse_prefix) */
    if (!rc)
        rc = buf_printf(b, "root ::= %s%s", completion ? "\" \" lines" : "task",
                        completion ? last.p : "");
    if (!rc && n > 1) rc = buf_printf(b, " (\"\\n\\n\" task){0,%d}", n - 1);
    if (!rc) rc = buf_printf(b, "\ntask ::= %s lines%s\n", head.p, last.p);
    if (!rc)
        rc = buf_adds(b,
                      /* the instruction: lines without a blank one; input and output may hold
                         paragraphs and fenced code, a fence on lines of its own (the parser
                         reads a fence opened on the label's line as the reply's wrapper) */
                      "lines ::= line (\"\\n\" line)*\n"
                      "field ::= line (\"\\n\" \"\\n\"? part)*\n"
                      "part ::= line | fence\n"
                      "fence ::= \"```\" [a-zA-Z0-9+#_-]{0,20} \"\\n\" (code \"\\n\")* \"```\"\n"
                      "code ::= ([^`\\n] [^\\n]*)?\n"
                      "line ::= lead | num | w0\n"
                      "lead ::= [" LEAD_CHARS "] line\n"
                      "num ::= [" DIGITS "]+ ( [" NUM_PUNCT "] line | [^" NUM_PUNCT DIGITS
                      "\\n] [^\\n]* )?\n");
    if (!rc) rc = trie_rules(b, t, 0);
    buf_free(&head);
    buf_free(&last);
    return rc;
}

isynth_err isynth_prompt_grammar(const isynth_prompt_params *p, bool completion, char **out,
                                 isynth_error *err)
{
    *out = NULL;
    buf b;
    buf_init(&b, BUF_MAX_GRAMMAR);
    isynth_err rc = grammar_text(p, completion, &b);
    if (!rc && !(*out = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    buf_free(&b);
    return rc ? isynth_error_set(err, rc, "building the reply grammar: %s", isynth_strerror(rc))
              : ISYNTH_OK;
}

isynth_err isynth_prompt_json_schema(const isynth_prompt_params *p, char **out, isynth_error *err)
{
    *out = NULL;
    buf b;
    buf_init(&b, 4096);
    int n = p->n_new > 0 ? p->n_new : 1;
    isynth_err rc = buf_printf(
        &b,
        "{\"type\":\"object\",\"properties\":{\"tasks\":{\"type\":\"array\",\"minItems\":1,"
        "\"maxItems\":%d,\"items\":{\"type\":\"object\",\"properties\":{"
        "\"instruction\":{\"type\":\"string\",\"minLength\":1},"
        "\"input\":{\"type\":\"string\"}%s},"
        "\"required\":[\"instruction\",\"input\"%s],\"additionalProperties\":false}}},"
        "\"required\":[\"tasks\"],\"additionalProperties\":false}",
        n, p->two_stage ? "" : ",\"output\":{\"type\":\"string\",\"minLength\":1}",
        p->two_stage ? "" : ",\"output\"");
    if (!rc && !(*out = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    buf_free(&b);
    return rc ? isynth_error_set(err, rc, "building the reply schema: %s", isynth_strerror(rc))
              : ISYNTH_OK;
}

const char *isynth_prompt_magpie_text(const isynth_prompt_params *p, const char *system_text)
{
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    return system_text ? system_text : L->magpie;
}

isynth_err isynth_prompt_magpie_system(const isynth_prompt_params *p, const char *system_text,
                                       char **out, isynth_error *err)
{
    *out = NULL;
    buf b;
    buf_init(&b, 64 << 10);
    isynth_err rc = fill(&b, isynth_prompt_magpie_text(p, system_text), "", 1, 1, p->topic);
    if (!rc && !(*out = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    buf_free(&b);
    return rc ? isynth_error_set(err, rc, "building the Magpie system message: %s",
                                 isynth_strerror(rc))
              : ISYNTH_OK;
}

static const char *const evol_names[ISYNTH_EVOL_N] = {
    "constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth"};

const char *isynth_evol_op_name(isynth_evol_op op)
{
    return op < ISYNTH_EVOL_N ? evol_names[op] : "unknown";
}

bool isynth_evol_op_grows(isynth_evol_op op)
{
    return op != ISYNTH_EVOL_CONCRETIZE && op != ISYNTH_EVOL_BREADTH;
}

const char *isynth_prompt_evol_rules(isynth_lang lang)
{
    return (lang == ISYNTH_LANG_JA ? &ja : &en)->evol_rules;
}

isynth_err isynth_prompt_evol(const isynth_prompt_params *p, const isynth_task *parent,
                              isynth_evol_op op, isynth_prompt *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    if (op >= ISYNTH_EVOL_N)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "unknown evolution %d", (int)op);
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    buf user, comp;
    buf_init(&user, 256 << 10);
    buf_init(&comp, 256 << 10);
    isynth_err rc =
        buf_printf(&user, "%s%s%s%s\n\n%s\n", L->evol_head, L->evol_ops[op], L->evol_rules,
                   isynth_evol_op_grows(op) ? L->evol_grow_rule : "", L->evol_original);
    if (!rc) rc = buf_printf(&user, "%s: %s\n%s: ", L->instr, parent->instruction, L->input);
    if (!rc) rc = add_capped(&user, parent->input[0] ? parent->input : L->none, 4000);
    /* a base model continues the list with the new task's instruction */
    if (!rc) rc = buf_printf(&comp, "%s\n\n%s: ", user.p, L->instr);
    if (!rc && (!(out->system = isynth_strdup(L->system)) || !(out->user = buf_take(&user)) ||
                !(out->completion = buf_take(&comp)) ||
                !(out->parse_prefix =
                      isynth_strdup(p->lang == ISYNTH_LANG_JA ? "指示: " : "Instruction: "))))
        rc = ISYNTH_ERR_NOMEM;
    buf_free(&user);
    buf_free(&comp);
    if (rc) {
        isynth_prompt_clear(out);
        return isynth_error_set(err, rc, "building the evolution prompt: %s", isynth_strerror(rc));
    }
    return ISYNTH_OK;
}
