/* Parser tests: the canonical Japanese and English shapes, every header and label variant the
 * models write, chatter, fences, truncation, junk from base models, invalid bytes, limits, a
 * random-bytes and mutation fuzz loop, and an allocation-failure walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "isynth/parse.h"

static isynth_parsed *parse_p(const char *text, bool want_output, bool truncated, size_t max)
{
    isynth_parse_params prm = isynth_parse_params_default();
    prm.want_output = want_output;
    prm.truncated = truncated;
    if (max) prm.max_tasks = max;
    isynth_parsed *r = NULL;
    isynth_error err;
    assert_int_equal(isynth_parse_tasks(text, strlen(text), &prm, &r, &err), ISYNTH_OK);
    assert_non_null(r);
    return r;
}

static isynth_parsed *parse1(const char *text)
{
    return parse_p(text, true, false, 0);
}

static isynth_parsed *parse2(const char *text)
{
    return parse_p(text, false, false, 0);
}

static bool known_reason(const char *r)
{
    static const char *const reasons[] = {"empty", "no instruction", "no output", "truncated",
                                          "too long"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (r == reasons[i] || strcmp(r, reasons[i]) == 0) return true;
    return false;
}

/* What every result must satisfy whatever the input. */
static void check_sane(const isynth_parsed *r, const isynth_parse_params *prm)
{
    size_t max = prm->max_tasks ? prm->max_tasks : ISYNTH_PARSE_DEFAULT_MAX_TASKS;
    assert_true(r->n <= max);
    assert_true(r->n_unparseable <= ISYNTH_PARSE_MAX_UNPARSEABLE);
    for (size_t i = 0; i < r->n; i++) {
        const isynth_task *t = &r->tasks[i];
        const char *f[] = {t->id, t->instruction, t->input, t->output, t->eval_aspect};
        for (size_t j = 0; j < 5; j++) {
            assert_non_null(f[j]);
            size_t n = strlen(f[j]);
            assert_true(n <= ISYNTH_PARSE_MAX_FIELD);
            assert_true(utf8_valid(f[j], n, NULL));
        }
        assert_string_equal(t->id, "");
        assert_string_equal(t->eval_aspect, "");
        assert_true(t->instruction[0] != '\0');
        assert_true(t->line >= 1);
        if (prm->want_output)
            assert_true(t->output[0] != '\0');
        else
            assert_string_equal(t->output, "");
        /* trimmed */
        size_t n = strlen(t->instruction);
        assert_false(t->instruction[0] == ' ' || t->instruction[0] == '\n');
        assert_false(t->instruction[n - 1] == ' ' || t->instruction[n - 1] == '\n');
    }
    for (size_t i = 0; i < r->n_unparseable; i++) {
        assert_non_null(r->unparseable_reasons[i]);
        assert_true(known_reason(r->unparseable_reasons[i]));
        assert_non_null(r->unparseable_text[i]);
        size_t n = strlen(r->unparseable_text[i]);
        assert_true(n <= ISYNTH_PARSE_MAX_FIELD);
        assert_true(utf8_valid(r->unparseable_text[i], n, NULL));
    }
}

static void assert_task(const isynth_parsed *r, size_t i, const char *instr, const char *input,
                        const char *output)
{
    assert_true(i < r->n);
    assert_string_equal(r->tasks[i].instruction, instr);
    assert_string_equal(r->tasks[i].input, input);
    assert_string_equal(r->tasks[i].output, output);
}

/* ---- canonical shapes ---- */

static void test_ja_canonical(void **state)
{
    (void)state;
    const char *text = "タスク1\n"
                       "指示: 次の文を英語に翻訳してください。\n"
                       "入力: 今日は良い天気です。\n"
                       "出力: It is nice weather today.\n"
                       "\n"
                       "タスク2\n"
                       "指示: 健康を保つための\nコツを3つ挙げてください。\n"
                       "入力: なし\n"
                       "出力: 1. よく眠る\n"
                       "2. バランスの良い食事をとる\n"
                       "\n"
                       "3. 毎日運動する\n"
                       "\n"
                       "タスク3\n"
                       "指示: 次の数の合計を求めてください。\n"
                       "入力:\n"
                       "3, 5, 7\n"
                       "出力:\n"
                       "15\n";
    isynth_parsed *r = parse1(text);
    isynth_parse_params prm = isynth_parse_params_default();
    check_sane(r, &prm);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->n_unparseable, 0);
    assert_task(r, 0, "次の文を英語に翻訳してください。", "今日は良い天気です。",
                "It is nice weather today.");
    assert_task(r, 1, "健康を保つための\nコツを3つ挙げてください。", "",
                "1. よく眠る\n2. バランスの良い食事をとる\n\n3. 毎日運動する");
    assert_task(r, 2, "次の数の合計を求めてください。", "3, 5, 7", "15");
    assert_int_equal(r->tasks[0].line, 1);
    assert_int_equal(r->tasks[1].line, 6);
    assert_int_equal(r->tasks[2].line, 15);
    isynth_parsed_free(r);
}

static void test_en_canonical(void **state)
{
    (void)state;
    const char *text = "Task 1\n"
                       "Instruction: Give three tips for staying healthy.\n"
                       "Input: <noinput>\n"
                       "Output: 1. Eat a balanced diet.\n"
                       "2. Exercise regularly.\n"
                       "3. Get enough sleep.\n"
                       "\n"
                       "Task 2\n"
                       "Instruction: Translate to French.\n"
                       "Input: Good morning\n"
                       "Output: Bonjour\n"
                       "\n"
                       "Task 3\n"
                       "Instruction: Name a primary color.\n"
                       "Input: None\n"
                       "Output: Red\n"
                       "\n"
                       "Task 4\n"
                       "Instruction: Say hi.\n"
                       "Input: N/A\n"
                       "Output: Hi!\n";
    isynth_parsed *r = parse1(text);
    assert_int_equal(r->n, 4);
    assert_task(r, 0, "Give three tips for staying healthy.", "",
                "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Get enough sleep.");
    assert_task(r, 1, "Translate to French.", "Good morning", "Bonjour");
    assert_task(r, 2, "Name a primary color.", "", "Red");
    assert_task(r, 3, "Say hi.", "", "Hi!");
    isynth_parsed_free(r);
}

static void test_empty_input_words(void **state)
{
    (void)state;
    const char *words[] = {"なし",      "（なし）", "無し",         "-",
                           "<noinput>", "None",     "N/A",          "<No Input>",
                           "特になし",  "(なし)",   "none\xC2\xA0", "\xE3\x80\x80なし\xE3\x80\x80"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "タスク1\n指示: 挨拶して\n入力: %s\n出力: こんにちは\n",
                 words[i]);
        isynth_parsed *r = parse1(text);
        assert_int_equal(r->n, 1);
        assert_task(r, 0, "挨拶して", "", "こんにちは");
        isynth_parsed_free(r);
    }
    /* a real input that merely contains such a word is kept */
    isynth_parsed *r = parse1("指示: 反対語を書いて\n入力: なし崩し\n出力: ?\n");
    assert_task(r, 0, "反対語を書いて", "なし崩し", "?");
    isynth_parsed_free(r);
}

/* ---- headers ---- */

static void test_header_variants(void **state)
{
    (void)state;
    const char *headers[] = {"タスク1",          "タスク 9:",      "タスク９",    "### タスク10",
                             "**タスク11**",     "**タスク11:**",  "Task 12.",    "12.",
                             "## 新しいタスク1", "Task #3",        "【タスク2】", "タスク１：",
                             "TASK 4:",          "### Task 5 ###", "(3)",         "新しいタスク 7"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "%s\n指示: 最初の指示\n入力: なし\n出力: 最初の出力\n\n"
                 "%s\n指示: 二番目の指示\n出力: 二番目の出力\n",
                 headers[i], headers[i]);
        isynth_parsed *r = parse1(text);
        if (r->n != 2) print_error("header variant %s\n", headers[i]);
        assert_int_equal(r->n, 2);
        assert_int_equal(r->n_unparseable, 0);
        assert_task(r, 0, "最初の指示", "", "最初の出力");
        assert_task(r, 1, "二番目の指示", "", "二番目の出力");
        isynth_parsed_free(r);
    }
}

static void test_header_with_label_on_same_line(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1: 指示: 短い詩を書いて\n出力: 春の風\n"
                              "Task 2. Instruction: Add 2 and 3.\nOutput: 5\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "短い詩を書いて", "", "春の風");
    assert_task(r, 1, "Add 2 and 3.", "", "5");
    isynth_parsed_free(r);
}

static void test_self_instruct_numbered(void **state)
{
    (void)state;
    /* the original Self-Instruct prompt format */
    isynth_parsed *r = parse1("1. Instruction: Sort the numbers.\n"
                              "1. Input:\n4, 1, 3\n"
                              "1. Output:\n1, 3, 4\n"
                              "2. Instruction: Name a fruit.\n"
                              "2. Input:\n<noinput>\n"
                              "2. Output:\nApple\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "Sort the numbers.", "4, 1, 3", "1, 3, 4");
    assert_task(r, 1, "Name a fruit.", "", "Apple");
    isynth_parsed_free(r);
}

static void test_numbered_list_in_output_is_text(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n指示: 手順を書いて\n出力:\n1. 材料を切る\n2.\n3) 煮る\n"
                              "12. 盛り付ける\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "手順を書いて", "", "1. 材料を切る\n2.\n3) 煮る\n12. 盛り付ける");
    isynth_parsed_free(r);
}

static void test_todo_list_in_output_is_text(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n指示: 今日のやることリストを作って\n入力: なし\n"
                              "出力:\nタスク1: 買い物に行く\nタスク2: 部屋を掃除する\n"
                              "Task 3. Call mom\n\n"
                              "タスク2\n指示: 挨拶して\n出力: やあ\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "今日のやることリストを作って", "",
                "タスク1: 買い物に行く\nタスク2: 部屋を掃除する\nTask 3. Call mom");
    assert_task(r, 1, "挨拶して", "", "やあ");
    isynth_parsed_free(r);
}

static void test_header_words_not_headers(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n指示: 説明して\n出力:\nタスク管理は大切です。\n"
                              "タスク1を終えたら休憩しましょう。\nTasks are fun.\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "説明して", "",
                "タスク管理は大切です。\nタスク1を終えたら休憩しましょう。\nTasks are fun.");
    isynth_parsed_free(r);
}

/* ---- labels ---- */

static void test_label_variants_ja(void **state)
{
    (void)state;
    const char *forms[][3] = {
        {"指示：", "入力：", "出力："},
        {"【指示】", "【入力】", "【出力】"},
        {"**指示**:", "**入力**:", "**出力**:"},
        {"**指示:**", "**入力:**", "**出力:**"},
        {"- 指示:", "- 入力:", "- 出力:"},
        {"質問:", "コンテキスト:", "回答:"},
        {"命令:", "入力文:", "答え:"},
        {"指示:", "入力:", "応答:"},
        {"指示:", "入力:", "解答:"},
        {"[指示]", "[入力]", "[出力]"},
        {"指示 :", "入力 :", "出力 :"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "タスク1\n%s 要約して\n%s 長い文章\n%s 短い文章\n", forms[i][0],
                 forms[i][1], forms[i][2]);
        isynth_parsed *r = parse1(text);
        if (r->n != 1) print_error("label form %zu: %s\n", i, text);
        assert_int_equal(r->n, 1);
        assert_task(r, 0, "要約して", "長い文章", "短い文章");
        isynth_parsed_free(r);
    }
}

static void test_label_headings(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("## タスク1\n### 指示\n要約して\n\n### 入力\n長い文章\n\n### 出力\n"
                              "短い文章\n\n## タスク2\n**指示**\n翻訳して\n**出力**\nHello\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "要約して", "長い文章", "短い文章");
    assert_task(r, 1, "翻訳して", "", "Hello");
    isynth_parsed_free(r);
}

static void test_label_variants_en(void **state)
{
    (void)state;
    const char *forms[][3] = {
        {"Instruction:", "Input:", "Output:"},
        {"Prompt:", "Context:", "Answer:"},
        {"Question:", "Input:", "Response:"},
        {"INSTRUCTION:", "INPUT:", "OUTPUT:"},
        {"**Instruction:**", "**Input:**", "**Output:**"},
        {"Instructions:", "Inputs:", "Outputs:"},
        {"### Instruction", "### Input", "### Output"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "Task 1\n%s\nSummarize.\n%s\nA long text.\n%s\nShort.\n",
                 forms[i][0], forms[i][1], forms[i][2]);
        isynth_parsed *r = parse1(text);
        if (r->n != 1) print_error("label form %zu: %s\n", i, text);
        assert_int_equal(r->n, 1);
        assert_task(r, 0, "Summarize.", "A long text.", "Short.");
        isynth_parsed_free(r);
    }
}

static void test_bulleted_bold_labels(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("以下は新しいタスクです。\n\n"
                              "**タスク 4:**\n* **指示:** 誤字を直して\n* **入力:** 映画お見た\n"
                              "* **出力:** 映画を見た\n\n"
                              "**タスク 5:**\n* **指示:** 偶数を列挙するコードを書いて\n"
                              "* **入力:** なし\n* **出力:**\n```python\nprint(2)\n```\n\n"
                              "1. **Instruction**: Add 1 and 1.\n   **Output**: 2\n\n"
                              "これらのタスクが参考になれば幸いです。\n");
    assert_int_equal(r->n, 3);
    assert_int_equal(r->n_unparseable, 0);
    assert_task(r, 0, "誤字を直して", "映画お見た", "映画を見た");
    assert_task(r, 1, "偶数を列挙するコードを書いて", "", "```python\nprint(2)\n```");
    assert_task(r, 2, "Add 1 and 1.", "", "2");
    assert_int_equal(r->tasks[1].line, 8);
    isynth_parsed_free(r);
}

static void test_missing_input(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n指示: 春の俳句を詠んで\n出力: 春の海\n\n"
                              "Task 2\nInstruction: Count to three.\nOutput: 1 2 3\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "春の俳句を詠んで", "", "春の海");
    assert_task(r, 1, "Count to three.", "", "1 2 3");
    isynth_parsed_free(r);
}

static void test_secondary_words_inside_answer(void **state)
{
    (void)state;
    /* 指示/出力 are used, so 質問/回答 lines inside the answer are text */
    isynth_parsed *r = parse1("タスク1\n指示: 日本の地理について質問と回答を1組作って\n"
                              "入力: なし\n出力:\n質問: 日本の首都は？\n回答: 東京です。\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "日本の地理について質問と回答を1組作って", "",
                "質問: 日本の首都は？\n回答: 東京です。");
    isynth_parsed_free(r);
}

static void test_sample_io_inside_answer(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("Task 1\nInstruction: Write a factorial function.\n"
                              "Input: <noinput>\nOutput: def fact(n):\n"
                              "    return 1 if n < 2 else n * fact(n - 1)\n\nExample:\n"
                              "Input: 5\nOutput: 120\n\n"
                              "Task 2\nInstruction: Say yes.\nOutput: Yes\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "Write a factorial function.", "",
                "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n\nExample:\n"
                "Input: 5\nOutput: 120");
    assert_task(r, 1, "Say yes.", "", "Yes");
    isynth_parsed_free(r);
}

static void test_no_headers_with_labels(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("指示: 次の単語の反対語を答えて\n入力: 高い\n出力: 低い\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "次の単語の反対語を答えて", "高い", "低い");
    assert_int_equal(r->tasks[0].line, 1);
    isynth_parsed_free(r);
    /* two header-less tasks in a row: a new instruction label starts a new task */
    r = parse1("Instruction: A\nOutput: a\n\nInstruction: B\nInput: b-in\nOutput: b\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "A", "", "a");
    assert_task(r, 1, "B", "b-in", "b");
    isynth_parsed_free(r);
}

static void test_title_and_header_text(void **state)
{
    (void)state;
    /* text after the header and before labels is a title when 指示 exists... */
    isynth_parsed *r = parse1("タスク1: 要約\n指示: 文章を要約して\n出力: 要約文\n");
    assert_task(r, 0, "文章を要約して", "", "要約文");
    isynth_parsed_free(r);
    /* ...and the instruction when it does not */
    r = parse1("タスク1: 次の文を英訳してください。\n入力: 猫\n出力: cat\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "次の文を英訳してください。", "猫", "cat");
    isynth_parsed_free(r);
}

/* ---- chatter, fences ---- */

static void test_preamble_and_closing(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("はい、新しいタスクを作成します。\n\n"
                              "タスク9\n指示: 色を一つ挙げて\n入力: なし\n出力: 赤\n\n"
                              "タスク10\n指示: 数字を一つ挙げて\n入力: なし\n出力: 七\n\n"
                              "以上が新しいタスクです。お役に立てば幸いです。\n");
    assert_int_equal(r->n, 2);
    assert_int_equal(r->n_unparseable, 0);
    assert_task(r, 0, "色を一つ挙げて", "", "赤");
    assert_task(r, 1, "数字を一つ挙げて", "", "七");
    isynth_parsed_free(r);
    r = parse1("Sure! Here are new tasks:\n\nTask 4\nInstruction: Name a planet.\nOutput: Mars\n\n"
               "I hope these tasks are helpful!\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "Name a planet.", "", "Mars");
    isynth_parsed_free(r);
    /* an essay's own conclusion stays */
    r = parse1("タスク1\n指示: 意見文を書いて\n出力: 第一に安い。\n\n以上の理由から賛成です。\n");
    assert_task(r, 0, "意見文を書いて", "", "第一に安い。\n\n以上の理由から賛成です。");
    isynth_parsed_free(r);
}

static void test_code_fence_in_output(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n指示: 二つの数を足す関数を書いて\n入力: なし\n出力:\n"
                              "```python\n# Task 1: add\ndef add(a, b):\n"
                              "    \"\"\"Input: two numbers\"\"\"\n"
                              "    return a + b\n\n---\nOutput: a + b\n```\n\n"
                              "タスク2\n指示: 挨拶して\n出力: こんにちは\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "二つの数を足す関数を書いて", "",
                "```python\n# Task 1: add\ndef add(a, b):\n    \"\"\"Input: two numbers\"\"\"\n"
                "    return a + b\n\n---\nOutput: a + b\n```");
    assert_task(r, 1, "挨拶して", "", "こんにちは");
    isynth_parsed_free(r);
}

static void test_wrapper_fences(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("```\nタスク1\n指示: A\n出力: a\n\nタスク2\n指示: B\n出力: b\n```\n"
                              "以上です。\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "A", "", "a");
    assert_task(r, 1, "B", "", "b");
    isynth_parsed_free(r);
    r = parse1("```markdown\n指示: A\n出力: a\n```\n\n```\n指示: B\n出力:\n```js\nx()\n```\n```\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "A", "", "a");
    assert_task(r, 1, "B", "", "```js\nx()\n```");
    isynth_parsed_free(r);
}

static void test_rules_between_tasks(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n指示: A\n出力: a\n---\nタスク2\n指示: B\n出力: b\n\n"
                              "***\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "A", "", "a");
    assert_task(r, 1, "B", "", "b");
    isynth_parsed_free(r);
    /* a rule inside an answer that continues is text */
    r = parse1("指示: A\n出力: 前半\n---\n後半\n");
    assert_task(r, 0, "A", "", "前半\n---\n後半");
    isynth_parsed_free(r);
}

/* ---- truncation ---- */

static void test_truncated(void **state)
{
    (void)state;
    const char *text = "タスク1\n指示: A\n出力: a\n\nタスク2\n指示: B\n出力: b は途中で";
    isynth_parsed *r = parse_p(text, true, true, 0);
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "A", "", "a");
    assert_int_equal(r->n_unparseable, 1);
    assert_string_equal(r->unparseable_reasons[0], "truncated");
    assert_string_equal(r->unparseable_text[0], "タスク2\n指示: B\n出力: b は途中で");
    isynth_parsed_free(r);
    /* not truncated: the same text gives two tasks */
    r = parse_p(text, true, false, 0);
    assert_int_equal(r->n, 2);
    isynth_parsed_free(r);
    /* cut right after the next header: the previous task is complete */
    r = parse_p("タスク1\n指示: A\n出力: a\n\nタスク2\n指示: B\n出力: b\n\nタスク3", true, true, 0);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->n_unparseable, 1);
    assert_string_equal(r->unparseable_reasons[0], "truncated");
    isynth_parsed_free(r);
    /* ends with a blank line: complete */
    r = parse_p("タスク1\n指示: A\n出力: a\n\n", true, true, 0);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->n_unparseable, 0);
    isynth_parsed_free(r);
    /* cut inside a code block */
    r = parse_p("指示: A\n出力: a\n\n指示: B\n出力:\n```c\nint main(", true, true, 0);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->unparseable_reasons[0], "truncated");
    isynth_parsed_free(r);
}

/* ---- junk and reasons ---- */

static void test_junk_headers(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク6: タスク7: タスク8:");
    assert_int_equal(r->n, 0);
    assert_int_equal(r->n_unparseable, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(r->unparseable_reasons[i], "empty");
    isynth_parsed_free(r);
    r = parse2("タスク6: タスク7: タスク8:\nタスク9:\nタスク10: タスク11:");
    assert_int_equal(r->n, 0);
    assert_int_equal(r->n_unparseable, 6);
    isynth_parsed_free(r);
    r = parse1("タスク6\n指示: タスク7\n指示: タスク8\n指示:\n");
    assert_int_equal(r->n, 0);
    isynth_parsed_free(r);
    /* labels repeated on one line are empty labels, in both modes */
    r = parse1("タスク10\n指示: 指示: 指示:\n入力: 入力: 出力:\n");
    assert_int_equal(r->n, 0);
    isynth_parsed_free(r);
    r = parse2("タスク10\n指示: 指示: 指示:\nInstruction: Instruction:\n");
    assert_int_equal(r->n, 0);
    isynth_parsed_free(r);
    /* thousands of them: bounded records */
    buf b;
    buf_init(&b, ISYNTH_PARSE_MAX_INPUT);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_printf(&b, "タスク%d: ", i), ISYNTH_OK);
    r = parse1(b.p);
    assert_int_equal(r->n, 0);
    assert_int_equal(r->n_unparseable, ISYNTH_PARSE_MAX_UNPARSEABLE);
    isynth_parsed_free(r);
    buf_free(&b);
}

static void test_reasons(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク1\n入力: x\n出力: y\n\nタスク2\n指示: z\n入力: なし\n\n"
                              "タスク3\n\nタスク4\n指示: ok\n出力: fine\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "ok", "", "fine");
    assert_int_equal(r->n_unparseable, 3);
    assert_string_equal(r->unparseable_reasons[0], "no instruction");
    assert_string_equal(r->unparseable_text[0], "タスク1\n入力: x\n出力: y");
    assert_string_equal(r->unparseable_reasons[1], "no output");
    assert_string_equal(r->unparseable_reasons[2], "empty");
    isynth_parsed_free(r);
}

static void too_long(int shift)
{
    buf b;
    buf_init(&b, ISYNTH_PARSE_MAX_INPUT);
    assert_int_equal(buf_adds(&b, "タスク1\n指示: 長く書いて\n出力: "), ISYNTH_OK);
    assert_int_equal(buf_add(&b, "xx", (size_t)shift), ISYNTH_OK);
    for (size_t i = 0; i < ISYNTH_PARSE_MAX_FIELD / 3 + 10; i++)
        assert_int_equal(buf_adds(&b, "あ"), ISYNTH_OK);
    assert_int_equal(buf_adds(&b, "\n\nタスク2\n指示: 短く\n出力: 短い\n"), ISYNTH_OK);
    isynth_parsed *r = parse1(b.p);
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "短く", "", "短い");
    assert_int_equal(r->n_unparseable, 1);
    assert_string_equal(r->unparseable_reasons[0], "too long");
    size_t n = strlen(r->unparseable_text[0]);
    assert_true(n <= ISYNTH_PARSE_MAX_FIELD && n > ISYNTH_PARSE_MAX_FIELD - 4);
    assert_true(utf8_valid(r->unparseable_text[0], n, NULL));
    isynth_parsed_free(r);
    buf_free(&b);
}

static void test_too_long(void **state)
{
    (void)state;
    /* three prefixes: the 64 KiB cut of the raw text falls on each byte of a character */
    for (int shift = 0; shift < 3; shift++)
        too_long(shift);
}
static void test_max_tasks(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, ISYNTH_PARSE_MAX_INPUT);
    for (int i = 1; i <= 30; i++)
        assert_int_equal(buf_printf(&b, "タスク%d\n指示: 指示%d\n出力: 出力%d\n\n", i, i, i),
                         ISYNTH_OK);
    isynth_parsed *r = parse_p(b.p, true, false, 0);
    assert_int_equal(r->n, ISYNTH_PARSE_DEFAULT_MAX_TASKS);
    isynth_parsed_free(r);
    r = parse_p(b.p, true, false, 5);
    assert_int_equal(r->n, 5);
    assert_task(r, 4, "指示5", "", "出力5");
    isynth_parsed_free(r);
    r = parse_p(b.p, true, false, 100);
    assert_int_equal(r->n, 30);
    isynth_parsed_free(r);
    /* params NULL: defaults */
    isynth_parsed *d = NULL;
    assert_int_equal(isynth_parse_tasks(b.p, b.len, NULL, &d, NULL), ISYNTH_OK);
    assert_int_equal(d->n, ISYNTH_PARSE_DEFAULT_MAX_TASKS);
    isynth_parsed_free(d);
    buf_free(&b);
}

/* ---- two-stage mode ---- */

static void test_two_stage(void **state)
{
    (void)state;
    isynth_parsed *r = parse2("タスク9: 次の文を要約してください。\n"
                              "タスク10: 好きな季節とその理由を書いてください。\n");
    isynth_parse_params prm = isynth_parse_params_default();
    prm.want_output = false;
    check_sane(r, &prm);
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "次の文を要約してください。", "", "");
    assert_task(r, 1, "好きな季節とその理由を書いてください。", "", "");
    isynth_parsed_free(r);
    /* labelled, with an output the model added anyway: output is dropped */
    r = parse2("タスク1\n指示: 訳して\n入力: 猫\n出力: cat\n\nタスク2\n指示: 数えて\n");
    assert_int_equal(r->n, 2);
    assert_task(r, 0, "訳して", "猫", "");
    assert_task(r, 1, "数えて", "", "");
    isynth_parsed_free(r);
}

static void test_free_text(void **state)
{
    (void)state;
    /* two-stage: a bare reply is one instruction, chatter removed */
    isynth_parsed *r = parse2("はい、新しいタスクを作成します。\n\n"
                              "日本の伝統的な祭りを一つ選び、\nその歴史を説明してください。\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "日本の伝統的な祭りを一つ選び、\nその歴史を説明してください。", "", "");
    assert_int_equal(r->tasks[0].line, 3);
    isynth_parsed_free(r);
    /* two-stage: a numbered list is one instruction per item */
    r = parse2("9. 好きな本を紹介してください。\n10. 次の手順を説明してください:\n"
               "   1. 湯を沸かす\n   2. 茶葉を入れる\n11. 俳句を作ってください。\n");
    assert_int_equal(r->n, 3);
    assert_task(r, 0, "好きな本を紹介してください。", "", "");
    assert_task(r, 1, "次の手順を説明してください:\n   1. 湯を沸かす\n   2. 茶葉を入れる", "", "");
    assert_task(r, 2, "俳句を作ってください。", "", "");
    assert_int_equal(r->tasks[2].line, 5);
    isynth_parsed_free(r);
    /* an instruction that contains a list is not split */
    r = parse2("次の手順を並べ替えてください。\n1. 煮る\n2. 切る\n");
    assert_int_equal(r->n, 1);
    isynth_parsed_free(r);
    /* one-stage: free text has no output */
    r = parse1("I cannot help with that request.");
    assert_int_equal(r->n, 0);
    assert_int_equal(r->n_unparseable, 1);
    assert_string_equal(r->unparseable_reasons[0], "no output");
    assert_string_equal(r->unparseable_text[0], "I cannot help with that request.");
    isynth_parsed_free(r);
    /* truncated free text */
    r = parse_p("次の文章を読んで、筆者の主張を", false, true, 0);
    assert_int_equal(r->n, 0);
    assert_string_equal(r->unparseable_reasons[0], "truncated");
    isynth_parsed_free(r);
}

/* ---- bytes ---- */

static void test_empty_and_blank(void **state)
{
    (void)state;
    const char *texts[] = {"", "\n", "   \n\t\n", "\xE3\x80\x80\n", "```\n```\n", "---\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int mode = 0; mode < 2; mode++) {
            isynth_parsed *r = parse_p(texts[i], mode, false, 0);
            assert_int_equal(r->n, 0);
            assert_int_equal(r->n_unparseable, 0);
            isynth_parsed_free(r);
        }
    }
    isynth_parsed *r = NULL;
    assert_int_equal(isynth_parse_tasks(NULL, 0, NULL, &r, NULL), ISYNTH_OK);
    assert_int_equal(r->n, 0);
    isynth_parsed_free(r);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    isynth_error err;
    isynth_parsed *r = (isynth_parsed *)&err; /* must be reset to NULL */
    assert_int_equal(isynth_parse_tasks("x", 1, NULL, NULL, &err), ISYNTH_ERR_INVALID);
    assert_int_equal(err.code, ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_parse_tasks(NULL, 3, NULL, &r, &err), ISYNTH_ERR_INVALID);
    assert_null(r);
    static const char small[4] = "abc";
    /* the length check comes before any read */
    assert_int_equal(isynth_parse_tasks(small, ISYNTH_PARSE_MAX_INPUT + 1, NULL, &r, &err),
                     ISYNTH_ERR_TOO_LARGE);
    assert_null(r);
    assert_non_null(strstr(err.msg, "limit"));
    isynth_parsed_free(NULL);
}

static void test_invalid_utf8_and_nul(void **state)
{
    (void)state;
    const char text[] = "タスク1\n指示: 壊れた\xFF\xC0\xAF文字\xE3\x81\n入力: a\0b\n"
                        "出力: \xED\xA0\x80ok\xF4\x90\x80\x80\n";
    isynth_parsed *r = NULL;
    assert_int_equal(isynth_parse_tasks(text, sizeof text - 1, NULL, &r, NULL), ISYNTH_OK);
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "壊れた\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD文字\xEF\xBF\xBD\xEF\xBF\xBD",
                "a\xEF\xBF\xBD"
                "b",
                "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDok\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                "\xEF\xBF\xBD");
    isynth_parse_params prm = isynth_parse_params_default();
    check_sane(r, &prm);
    isynth_parsed_free(r);
}

static void test_crlf_and_bom(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("\xEF\xBB\xBFTask 1\r\nInstruction: Two\r\nlines\r\n"
                              "Output: ok\r\rend\r\n");
    assert_int_equal(r->n, 1);
    assert_task(r, 0, "Two\nlines", "", "ok\n\nend");
    isynth_parsed_free(r);
}

/* ---- fuzz ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Pieces the parser reacts to, so random text reaches deep paths. */
static const char *const tokens[] = {
    "タスク", "Task ", "1",         "１２",   ".",        ":",           "：",          "\n",
    "\n\n",   " ",     "指示",      "入力",   "出力",     "Instruction", "Input",       "Output",
    "質問",   "回答",  "【",        "】",     "**",       "###",         "```",         "~~~",
    "---",    "なし",  "<noinput>", "はい、", "以上です", "- ",          "\xFF",        "\xE3\x81",
    "\0",     "\r",    "あ",        "12.",    "(3)",      "#",           "\xE3\x80\x80"};

static void fuzz_one(const char *p, size_t n, uint64_t r)
{
    isynth_parse_params prm = isynth_parse_params_default();
    prm.want_output = r & 1;
    prm.truncated = (r >> 1) & 1;
    prm.max_tasks = (r >> 2) % 8; /* 0 = default */
    isynth_parsed *res = NULL;
    isynth_error err;
    assert_int_equal(isynth_parse_tasks(p, n, &prm, &res, &err), ISYNTH_OK);
    check_sane(res, &prm);
    isynth_parsed_free(res);
}

static void test_fuzz_random(void **state)
{
    (void)state;
    char *b = malloc(4096);
    assert_non_null(b);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0, want = rnd() % 1024;
        bool raw = iter % 3 == 0;
        while (n < want) {
            if (raw) {
                b[n++] = (char)rnd();
                continue;
            }
            const char *t = tokens[rnd() % (sizeof tokens / sizeof tokens[0])];
            size_t l = t[0] ? strlen(t) : 1;
            if (n + l > 4096) break;
            memcpy(b + n, t, l);
            n += l;
        }
        fuzz_one(b, n, rnd());
    }
    free(b);
}

static const char valid_response[] =
    "はい、新しいタスクを作成します。\n\n"
    "タスク9\n指示: 次の文を英語に翻訳してください。\n入力: 今日は良い天気です。\n"
    "出力: It is nice weather today.\n\n"
    "### タスク10\n**指示**: コードを書いて\n【入力】なし\n出力:\n```python\nprint(1)\n```\n\n"
    "Task 11.\nInstruction: Name a color.\nInput: <noinput>\nOutput: Red\n---\n"
    "12.\n指示：数えて\n出力：1\n2\n3\n\nタスク13: タスク14:\n以上です。\n";

static void test_fuzz_mutations(void **state)
{
    (void)state;
    size_t base = sizeof valid_response - 1;
    char *b = malloc(base * 2 + 64);
    assert_non_null(b);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(b, valid_response, base);
        size_t n = base;
        int edits = 1 + (int)(rnd() % 8);
        for (int k = 0; k < edits && n > 0; k++) {
            size_t at = rnd() % n;
            switch (rnd() % 5) {
            case 0: /* flip a byte */
                b[at] = (char)rnd();
                break;
            case 1: /* delete a run */
            {
                size_t l = 1 + rnd() % 16;
                if (l > n - at) l = n - at;
                memmove(b + at, b + at + l, n - at - l);
                n -= l;
                break;
            }
            case 2: /* insert a token */
            {
                const char *t = tokens[rnd() % (sizeof tokens / sizeof tokens[0])];
                size_t l = t[0] ? strlen(t) : 1;
                if (n + l > base * 2 + 64) break;
                memmove(b + at + l, b + at, n - at);
                memcpy(b + at, t, l);
                n += l;
                break;
            }
            case 3: /* truncate */
                n = at;
                break;
            default: /* duplicate a run */
            {
                size_t l = 1 + rnd() % 32;
                if (l > n - at) l = n - at;
                if (n + l > base * 2 + 64) break;
                memmove(b + at + l, b + at, n - at);
                n += l;
                break;
            }
            }
        }
        fuzz_one(b, n, rnd());
    }
    free(b);
    /* the unmutated response itself */
    isynth_parsed *r = parse1(valid_response);
    assert_int_equal(r->n, 4);
    assert_task(r, 1, "コードを書いて", "", "```python\nprint(1)\n```");
    assert_task(r, 3, "数えて", "", "1\n2\n3");
    assert_int_equal(r->n_unparseable, 2);
    isynth_parsed_free(r);
}

/* ---- allocation failures ---- */

static void alloc_walk(const char *text, bool want_output, bool truncated)
{
    isynth_parse_params prm = isynth_parse_params_default();
    prm.want_output = want_output;
    prm.truncated = truncated;
    isynth_parsed *ref = NULL;
    assert_int_equal(isynth_parse_tasks(text, strlen(text), &prm, &ref, NULL), ISYNTH_OK);
    for (long n = 1;; n++) {
        isynth_parsed *r = NULL;
        isynth_error err;
        isynth_alloc_fail_at(n, true);
        isynth_err rc = isynth_parse_tasks(text, strlen(text), &prm, &r, &err);
        isynth_alloc_fail_at(0, false);
        if (rc == ISYNTH_OK) {
            assert_true(n > 2);
            assert_int_equal(r->n, ref->n);
            assert_int_equal(r->n_unparseable, ref->n_unparseable);
            for (size_t i = 0; i < r->n; i++)
                assert_task(r, i, ref->tasks[i].instruction, ref->tasks[i].input,
                            ref->tasks[i].output);
            isynth_parsed_free(r);
            break;
        }
        assert_int_equal(rc, ISYNTH_ERR_NOMEM);
        assert_int_equal(err.code, ISYNTH_ERR_NOMEM);
        assert_null(r);
        assert_true(n < 10000);
    }
    isynth_parsed_free(ref);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    alloc_walk(valid_response, true, false);
    alloc_walk(valid_response, false, true);
    alloc_walk("9. 一つ目\n10. 二つ目\n", false, false);
    alloc_walk("自由な文章", true, false);
}

/* Qwen writes whole label lines in bold: "**指示: text**"; the closing "**" must not stay in
 * the value (seen in a real run of the default model). */
static void test_bold_label_lines(void **state)
{
    (void)state;
    isynth_parsed *r = parse1("タスク5\n\n**指示: 一番背が低いのは誰ですか。**\n\n"
                              "**入力: AはBより高い。** (比較)\n**出力: Bです。**\n\n"
                              "1. **太字の項目** は残す");
    assert_int_equal(r->n, 1);
    assert_string_equal(r->tasks[0].instruction, "一番背が低いのは誰ですか。");
    assert_string_equal(r->tasks[0].input, "AはBより高い。 (比較)");
    assert_string_equal(r->tasks[0].output, "Bです。\n\n1. **太字の項目** は残す");
    isynth_parsed_free(r);
}

/* JSON replies (a server that enforced the reply's schema). */
static isynth_parsed *parse_json(const char *text, bool want_output)
{
    isynth_parse_params pp = isynth_parse_params_default();
    pp.want_output = want_output;
    isynth_parsed *p = NULL;
    assert_int_equal(isynth_parse_json_tasks(text, strlen(text), &pp, &p, NULL), ISYNTH_OK);
    return p;
}

static void test_json_replies(void **state)
{
    (void)state;
    isynth_parsed *p = parse_json(
        "{\"tasks\": [{\"instruction\": \" 俳句を作ってください。\", \"input\": \"なし\", "
        "\"output\": \"古池や\\n蛙飛びこむ\"}, {\"instruction\": \"要約して。\", \"input\": "
        "\"長い文 {with} \\\"braces\\\"\", \"output\": \"短い文\"}]}",
        true);
    assert_int_equal(p->n, 2);
    assert_string_equal(p->tasks[0].instruction, "俳句を作ってください。");
    assert_string_equal(p->tasks[0].input, "");
    assert_string_equal(p->tasks[0].output, "古池や\n蛙飛びこむ");
    assert_string_equal(p->tasks[1].input, "長い文 {with} \"braces\"");
    isynth_parsed_free(p);

    /* cut by max tokens inside the third item: the two complete ones are kept */
    p = parse_json("{\"tasks\":[{\"instruction\":\"a1です。\",\"input\":\"\",\"output\":\"x}\"},"
                   "{\"instruction\":\"a2です。\",\"input\":\"\",\"output\":\"y\"},"
                   "{\"instruction\":\"a3です。\",\"input\":\"\",\"outp",
                   true);
    assert_int_equal(p->n, 2);
    assert_string_equal(p->tasks[1].instruction, "a2です。");
    isynth_parsed_free(p);

    /* the text format's labels copied into the values are dropped */
    p = parse_json("{\"tasks\":[{\"instruction\":\"指示: 要約してください。\",\"input\":\"入力："
                   "なし\",\"output\":\"Output: 短い文\"}]}",
                   true);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->tasks[0].instruction, "要約してください。");
    assert_string_equal(p->tasks[0].input, "");
    assert_string_equal(p->tasks[0].output, "短い文");
    isynth_parsed_free(p);

    /* an item without its output is unparseable; two-stage needs none */
    const char *no_out = "{\"tasks\":[{\"instruction\":\"書いて。\",\"input\":\"\"}]}";
    p = parse_json(no_out, true);
    assert_int_equal(p->n, 0);
    assert_int_equal(p->n_unparseable, 1);
    assert_string_equal(p->unparseable_reasons[0], "no output");
    isynth_parsed_free(p);
    p = parse_json(no_out, false);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->tasks[0].output, "");
    isynth_parsed_free(p);

    /* text, other JSON, nothing: no task, no crash */
    const char *others[] = {"タスク1\n指示: x\n入力: なし\n出力: y",
                            "{\"tasks\": 3}",
                            "[1,2]",
                            "",
                            "{\"tasks\":[",
                            "\xff\xfe{"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        p = parse_json(others[i], true);
        assert_int_equal(p->n, 0);
        isynth_parsed_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ja_canonical),
        cmocka_unit_test(test_bold_label_lines),
        cmocka_unit_test(test_en_canonical),
        cmocka_unit_test(test_empty_input_words),
        cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_header_with_label_on_same_line),
        cmocka_unit_test(test_self_instruct_numbered),
        cmocka_unit_test(test_numbered_list_in_output_is_text),
        cmocka_unit_test(test_todo_list_in_output_is_text),
        cmocka_unit_test(test_header_words_not_headers),
        cmocka_unit_test(test_label_variants_ja),
        cmocka_unit_test(test_label_headings),
        cmocka_unit_test(test_label_variants_en),
        cmocka_unit_test(test_bulleted_bold_labels),
        cmocka_unit_test(test_missing_input),
        cmocka_unit_test(test_secondary_words_inside_answer),
        cmocka_unit_test(test_sample_io_inside_answer),
        cmocka_unit_test(test_no_headers_with_labels),
        cmocka_unit_test(test_title_and_header_text),
        cmocka_unit_test(test_preamble_and_closing),
        cmocka_unit_test(test_code_fence_in_output),
        cmocka_unit_test(test_wrapper_fences),
        cmocka_unit_test(test_rules_between_tasks),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_junk_headers),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_max_tasks),
        cmocka_unit_test(test_two_stage),
        cmocka_unit_test(test_free_text),
        cmocka_unit_test(test_empty_and_blank),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_crlf_and_bom),
        cmocka_unit_test(test_fuzz_random),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_json_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
