/* The reply grammar (isynth_prompt_grammar) against llama.cpp's own grammar engine and the
 * parser. Each text is tokenised with the default model's vocabulary and fed to llama.cpp's
 * grammar sampler token by token, as decoding does: a token the grammar forbids gets a -inf
 * logit, and a complete text must allow end of generation. The contract checked:
 *   - the shapes the prompt asks for (lists, bullets, numbers, paragraphs, fenced code, one to
 *     n_new tasks, two-stage, completion form, English) are accepted;
 *   - what the parser would misread (a label or header inside a field, a rule, an unclosed
 *     fence, one task too many) is refused;
 *   - every text the grammar accepts parses back into exactly the tasks it was built from
 *     (random replies built from allowed and tricky lines).
 * Needs the model file (vocabulary only); skipped without it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "isynth/parse.h"
#include "isynth/prompt.h"

#include <llama.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ISYNTH_MODEL
#define ISYNTH_MODEL ""
#endif

static struct llama_model *model;
static const struct llama_vocab *vocab;

static void quiet(enum ggml_log_level l, const char *t, void *u)
{
    (void)l, (void)t, (void)u;
}

static int setup(void **state)
{
    (void)state;
    if (!*ISYNTH_MODEL || access(ISYNTH_MODEL, R_OK)) return 0;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    model = llama_model_load_from_file(ISYNTH_MODEL, mp);
    vocab = model ? llama_model_get_vocab(model) : NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (model) llama_model_free(model);
    return 0;
}

/* 1: the grammar takes the whole text and may end there; 0: it refuses a token or cannot end. */
static int accepts(const char *grammar, const char *text)
{
    struct llama_sampler *g = llama_sampler_init_grammar(vocab, grammar, "root");
    assert_non_null(g);
    int n = (int)strlen(text) + 8;
    llama_token *tok = malloc((size_t)n * sizeof *tok);
    n = llama_tokenize(vocab, text, (int32_t)strlen(text), tok, n, false, false);
    assert_true(n >= 0);
    int ok = 1;
    for (int i = 0; i <= n && ok; i++) {
        llama_token t = i < n ? tok[i] : llama_vocab_eos(vocab);
        llama_token_data d = {t, 0.0f, 0.0f};
        llama_token_data_array a = {&d, 1, -1, false};
        llama_sampler_apply(g, &a);
        if (isinf(d.logit) && d.logit < 0)
            ok = 0;
        else if (i < n)
            llama_sampler_accept(g, t);
    }
    free(tok);
    llama_sampler_free(g);
    return ok;
}

static char *grammar_for(isynth_lang lang, int n_new, bool two_stage, bool completion)
{
    isynth_prompt_params p = isynth_prompt_params_default();
    p.lang = lang;
    p.n_new = n_new;
    p.two_stage = two_stage;
    char *g = NULL;
    isynth_error err;
    assert_int_equal(isynth_prompt_grammar(&p, completion, &g, &err), ISYNTH_OK);
    return g;
}

#define NEED_MODEL()                                                                               \
    do {                                                                                           \
        if (!vocab) {                                                                              \
            if (ISYNTH_REQUIRE_ALL) fail_msg("no model (ISYNTH_MODEL), which is required here");   \
            fprintf(stderr, "no model (ISYNTH_MODEL): skipped\n");                                 \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static const char *const ja_good[] = {
    "タスク5\n指示: 日本の四季を説明してください。\n入力: なし\n出力: 春、夏、秋、冬があります。",
    "タスク5\n指示: カレーの作り方を教えてください。\n入力: なし\n出力: 手順は次の通りです。\n"
    "1. 材料を切る。\n2. 炒める。\n\n- 玉ねぎ\n・にんじん\n\n**重要**: 火を止めてから"
    "ルウを入れます。\n\nタスク6\n指示: 次の数を足してください。\n入力: 19と23\n出力: 42",
    "タスク5\n指示: 次の関数の誤りを直してください。\n入力: 次の通りです。\n```python\ndef f(x):\n "
    "   return x +\n```"
    "\n出力: 正しくは次の通りです。\n```python\ndef f(x):\n    return x + 1\n```\n"
    "2024年版の書き方です。\n\nタスク6\n指示: 短い詩を書いてください。\n"
    "入力: なし\n出力: (注) 五七五で書きます。\n「古池や」\n\nタスク7\n指示: 挨拶を"
    "英語にしてください。\n入力: おはよう\n出力: Good morning.",
    NULL};

static const char *const ja_bad[] = {
    /* a second output label, bold or bracketed labels, a header, English labels */
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n出力: 二つ目。",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n**出力**: 二つ目。",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n【入力】二つ目。",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\nタスク6",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n### タスク6",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\nOutput: two",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n1. 指示: 三つ目",
    /* a rule, a bare number, a blank-only line, an unclosed fence that would swallow a task */
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n---",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力: 一つ目。\n12.",
    "タスク5\n指示: 説明してください。\n入力: なし\n出力:  ",
    "タスク5\n指示: 直してください。\n入力: なし\n出力: ```\ncode\n\nタスク6\n指示: 書く\n"
    "入力: なし\n出力: x",
    /* a fence opened on the label's line (the parser reads it as the reply's wrapper) */
    "タスク5\n指示: 直してください。\n入力: なし\n出力: ```sh\necho hi\n```",
    /* missing fields, empty instruction, chatter before the first task */
    "タスク5\n指示: 説明してください。\n出力: 一つ目。",
    "タスク5\n指示: 説明してください。\n入力: なし", "タスク5\n指示: \n入力: なし\n出力: x",
    "はい、作ります。\nタスク5\n指示: 説明してください。\n入力: なし\n出力: x",
    /* four tasks when three were asked for */
    "タスク5\n指示: a1です。\n入力: なし\n出力: x\n\nタスク6\n指示: a2です。\n入力: なし\n出力: "
    "x\n\n"
    "タスク7\n指示: a3です。\n入力: なし\n出力: x\n\nタスク8\n指示: a4です。\n入力: なし\n出力: x",
    NULL};

static void test_japanese_shapes(void **state)
{
    (void)state;
    NEED_MODEL();
    char *g = grammar_for(ISYNTH_LANG_JA, 3, false, false);
    for (size_t i = 0; ja_good[i]; i++) {
        if (!accepts(g, ja_good[i])) fail_msg("refused good reply %zu:\n%s", i, ja_good[i]);
    }
    for (size_t i = 0; ja_bad[i]; i++) {
        if (accepts(g, ja_bad[i])) fail_msg("accepted bad reply %zu:\n%s", i, ja_bad[i]);
    }
    free(g);
}

static void test_other_forms(void **state)
{
    (void)state;
    NEED_MODEL();
    char *en = grammar_for(ISYNTH_LANG_EN, 3, false, false);
    assert_true(accepts(en, "Task 5\nInstruction: Name three fruits.\nInput: <noinput>\n"
                            "Output: - Apple\n- Pear\n- Plum"));
    assert_false(accepts(en, "Task 5\nInstruction: Name three fruits.\nInput: <noinput>\n"
                             "Output: Apple\nInstruction: more"));
    char *two = grammar_for(ISYNTH_LANG_JA, 2, true, false);
    assert_true(accepts(two, "タスク5\n指示: 要約してください。\n入力: 長い文章です。\n\n"
                             "タスク6\n指示: 詩を書いてください。\n入力: なし"));
    assert_false(accepts(two, "タスク5\n指示: 要約してください。\n入力: なし\n出力: x"));
    /* a completion continues after the prompt's "タスクN\n指示:" */
    char *comp = grammar_for(ISYNTH_LANG_JA, 3, false, true);
    assert_true(accepts(comp, " 要約してください。\n入力: 長い文章です。\n出力: 短くしました。\n\n"
                              "タスク6\n指示: 詩を書いてください。\n入力: なし\n出力: 春の歌。"));
    assert_false(accepts(comp, "タスク5\n指示: 要約してください。\n入力: なし\n出力: x"));
    char *one = grammar_for(ISYNTH_LANG_JA, 1, false, false);
    assert_true(accepts(one, "タスク5\n指示: 要約してください。\n入力: なし\n出力: x"));
    assert_false(accepts(one, "タスク5\n指示: 要約してください。\n入力: なし\n出力: x\n\n"
                              "タスク6\n指示: 書いてください。\n入力: なし\n出力: y"));
    free(en);
    free(two);
    free(comp);
    free(one);
}

/* ---- random replies: accepted ones parse back into the tasks they were built from ---- */

static const char *const lines_pool[] = {
    "日本の首都について説明してください。",
    "1. 材料を切る。",
    "- 玉ねぎ",
    "・にんじん",
    "2024年の出来事です。",
    "42",
    "「こんにちは」と言いました。",
    "(注) 目安です。",
    "# 見出し",
    "**重要**: 火を止める。",
    "Tokyo is large.",
    "答え: 東京です。",
    "質問: なぜですか。",
    "回答は三つあります。",
    "入れ物を用意する。",
    "出発は九時です。",
    "タイトル: 春",
    "* 星印の項目",
    "> 引用です。",
    "3) 三番目",
};
/* tricky: the grammar must refuse these, or the parser must still agree */
static const char *const tricky_pool[] = {
    "出力: 二つ目",   "**出力**: x",       "タスク9",   "Task 2",    "---",     "12.", "### タスク",
    "Instruction: x", "Taskforce report.", "【入力】x", "指示文: y", "Output2", "  ",  "```",
    "input data",
};
#define N_POOL (sizeof lines_pool / sizeof lines_pool[0])
#define N_TRICKY (sizeof tricky_pool / sizeof tricky_pool[0])

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void add_lines(char *field, size_t cap, int n, bool blank_ok)
{
    for (int i = 0; i < n; i++) {
        if (i) strncat(field, blank_ok && rnd(4) == 0 ? "\n\n" : "\n", cap - strlen(field) - 1);
        if (rnd(12) == 0)
            strncat(field, "```sh\necho hi\n```", cap - strlen(field) - 1);
        else if (rnd(10) == 0)
            strncat(field, tricky_pool[rnd(N_TRICKY)], cap - strlen(field) - 1);
        else
            strncat(field, lines_pool[rnd(N_POOL)], cap - strlen(field) - 1);
    }
}

static void test_accepted_parse_back(void **state)
{
    (void)state;
    NEED_MODEL();
    char *g = grammar_for(ISYNTH_LANG_JA, 3, false, false);
    int accepted = 0, refused = 0;
    for (int round = 0; round < 600; round++) {
        char text[8192] = "";
        char f[3][3][1024];
        int nt = 1 + (int)rnd(3);
        for (int t = 0; t < nt; t++) {
            for (int k = 0; k < 3; k++) {
                f[t][k][0] = '\0';
                if (k == 1 && rnd(3) == 0)
                    strcpy(f[t][k], "なし");
                else
                    add_lines(f[t][k], sizeof f[t][k], 1 + (int)rnd(k ? 3 : 2), k > 0);
            }
            char one[10240];
            /* small models put a blank line before a label now and then */
            snprintf(one, sizeof one, "%sタスク%d\n%s指示: %s\n%s入力: %s\n%s出力: %s",
                     t ? "\n\n" : "", 5 + t, rnd(4) ? "" : "\n", f[t][0], rnd(4) ? "" : "\n",
                     f[t][1], rnd(4) ? "" : "\n", f[t][2]);
            strncat(text, one, sizeof text - strlen(text) - 1);
        }
        if (!accepts(g, text)) {
            refused++;
            continue;
        }
        accepted++;
        isynth_parsed *p = NULL;
        assert_int_equal(isynth_parse_tasks(text, strlen(text), NULL, &p, NULL), ISYNTH_OK);
        if (p->n != (size_t)nt || p->n_unparseable)
            fail_msg("accepted reply parsed into %zu tasks (%zu unparseable), not %d:\n%s", p->n,
                     p->n_unparseable, nt, text);
        for (int t = 0; t < nt; t++) {
            const char *want_in = strcmp(f[t][1], "なし") ? f[t][1] : "";
            if (strcmp(p->tasks[t].instruction, f[t][0]) || strcmp(p->tasks[t].input, want_in) ||
                strcmp(p->tasks[t].output, f[t][2]))
                fail_msg("task %d parsed differently:\n%s\n---\ninstruction [%s]\ninput "
                         "[%s]\noutput [%s]",
                         t, text, p->tasks[t].instruction, p->tasks[t].input, p->tasks[t].output);
        }
        isynth_parsed_free(p);
    }
    fprintf(stderr, "random replies: %d accepted and parsed back, %d refused\n", accepted, refused);
    assert_true(accepted >= 100);
    assert_true(refused >= 100);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_japanese_shapes),
        cmocka_unit_test(test_other_forms),
        cmocka_unit_test(test_accepted_parse_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
