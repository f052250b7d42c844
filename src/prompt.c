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
};

static const char *const topics_ja[] = {
    "料理", "旅行", "健康", "歴史", "自然科学", "仕事", "教育", "スポーツ", "音楽", "環境",
    "お金と家計", "法律と暮らし", "家族", "動物", "天気と季節", "交通", "言葉と文法", "数学",
    "プログラミング", "地理", "文学", "美術", "映画", "ゲーム", "趣味", "防災", "医療",
    "心理", "経済", "ビジネスメール", "接客", "農業", "宇宙", "ファッション", "住まい",
    "子育て", "人間関係", "就職活動", "日本の文化", "ことわざと慣用句",
};
static const char *const topics_en[] = {
    "cooking", "travel", "health", "history", "science", "work", "education", "sports",
    "music", "the environment", "personal finance", "law", "family", "animals", "weather",
    "transport", "grammar", "mathematics", "programming", "geography", "literature", "art",
    "film", "games", "hobbies", "emergencies", "medicine", "psychology", "economics",
    "business email", "customer service", "farming", "space", "fashion", "housing",
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
    if (p->template_text)
        return p->template_text;
    return p->two_stage ? L->tmpl_two_stage : L->tmpl;
}

void isynth_prompt_labels_get(isynth_lang lang, isynth_prompt_labels *out)
{
    const lang_text *L = lang == ISYNTH_LANG_JA ? &ja : &en;
    *out = (isynth_prompt_labels){L->task, L->instr, L->input, L->output, L->none};
}

void isynth_prompt_clear(isynth_prompt *pr)
{
    if (!pr)
        return;
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
    if (n <= max)
        return buf_add(b, s, n);
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
    isynth_err rc = buf_printf(b, "%s%zu\n%s: %s\n%s: %s", L->task, num, L->instr,
                               t->instruction, L->input, t->input[0] ? t->input : L->none);
    if (!rc && with_output) {
        rc = buf_printf(b, "\n%s: ", L->output);
        if (!rc)
            rc = add_capped(b, t->output, max_chars);
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
        if (!q)
            return buf_adds(out, p);
        rc = buf_add(out, p, (size_t)(q - p));
        if (rc)
            break;
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

isynth_err isynth_prompt_build(const isynth_prompt_params *p, const isynth_task *const *examples,
                               size_t k, isynth_prompt *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    bool with_output = !p->two_stage;
    size_t maxc = p->max_example_chars ? p->max_example_chars : 600;
    buf ex, user, comp, prefix;
    buf_init(&ex, 0);
    buf_init(&user, 0);
    buf_init(&comp, 0);
    buf_init(&prefix, 0);
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < k && !rc; i++) {
        if (i)
            rc = buf_adds(&ex, "\n\n");
        if (!rc)
            rc = add_example(&ex, L, i + 1, examples[i], with_output, maxc);
    }
    const char *tmpl = p->template_text ? p->template_text
                                        : (p->two_stage ? L->tmpl_two_stage : L->tmpl);
    if (!rc)
        rc = fill(&user, tmpl, ex.p ? ex.p : "", p->n_new, k + 1, p->topic);
    if (!rc && p->topic && !p->template_text)
        rc = fill(&user, L->topic_rule, "", p->n_new, k + 1, p->topic);
    /* completion form: a list the base model continues, ending on the next header */
    if (!rc)
        rc = buf_printf(&prefix, "%s%zu\n%s:", L->task, k + 1, L->instr);
    if (!rc)
        rc = buf_adds(&comp, p->two_stage ? L->completion_head_two_stage : L->completion_head);
    if (!rc && ex.len)
        rc = buf_add(&comp, ex.p, ex.len);
    if (!rc)
        rc = buf_adds(&comp, "\n\n");
    if (!rc)
        rc = buf_add(&comp, prefix.p, prefix.len);
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
    if (rc) {
        isynth_prompt_clear(out);
        return isynth_error_set(err, rc, "building a prompt: %s", isynth_strerror(rc));
    }
    return ISYNTH_OK;
}

isynth_err isynth_prompt_answer(const isynth_prompt_params *p, const isynth_task *t,
                                isynth_prompt *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    const lang_text *L = p->lang == ISYNTH_LANG_JA ? &ja : &en;
    buf user, comp;
    buf_init(&user, 0);
    buf_init(&comp, 0);
    isynth_err rc = buf_adds(&user, t->instruction);
    if (!rc && t->input[0])
        rc = buf_printf(&user, "\n\n%s", t->input);
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
    if (rc) {
        isynth_prompt_clear(out);
        return isynth_error_set(err, rc, "building a prompt: %s", isynth_strerror(rc));
    }
    return ISYNTH_OK;
}
