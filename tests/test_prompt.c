/* Prompt builder, and its contract with the parser: the examples a prompt shows must parse
 * back to the same tasks, in Japanese and English, in chat and completion form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "isynth/parse.h"
#include "isynth/prompt.h"

static isynth_task T(const char *i, const char *in, const char *o)
{
    return (isynth_task){.id = "",
                         .instruction = (char *)i,
                         .input = (char *)in,
                         .output = (char *)o,
                         .eval_aspect = ""};
}

static void roundtrip(isynth_lang lang)
{
    isynth_task tasks[3] = {
        T("次の文を丁寧語に直してください。", "明日行く。", "明日伺います。"),
        T("春の季語を三つ挙げてください。", "", "1. 桜\n2. 菜の花\n3. 蛙"),
        T("Summarise the text in one sentence.", "The cat sat on the mat all day.",
          "A cat spent the day on a mat."),
    };
    const isynth_task *ex[3] = {&tasks[0], &tasks[1], &tasks[2]};
    isynth_prompt_params pp = isynth_prompt_params_default();
    pp.lang = lang;
    pp.n_new = 5;
    isynth_prompt pr;
    assert_int_equal(isynth_prompt_build(&pp, ex, 3, &pr, NULL), ISYNTH_OK);
    assert_non_null(strstr(pr.user, "5"));
    assert_non_null(strstr(pr.user, lang == ISYNTH_LANG_JA ? "タスク4" : "Task 4"));
    assert_non_null(strstr(pr.completion, pr.parse_prefix));

    /* the completion text holds the examples: parsing it gives them back (the last block, the
     * empty next header, is not a task) */
    isynth_parse_params ps = isynth_parse_params_default();
    isynth_parsed *parsed;
    assert_int_equal(isynth_parse_tasks(pr.completion, strlen(pr.completion), &ps, &parsed, NULL),
                     ISYNTH_OK);
    assert_int_equal(parsed->n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(parsed->tasks[i].instruction, tasks[i].instruction);
        assert_string_equal(parsed->tasks[i].input, tasks[i].input);
        assert_string_equal(parsed->tasks[i].output, tasks[i].output);
    }
    isynth_parsed_free(parsed);

    /* a model continuing the completion prompt: prefix + continuation parses to a new task */
    const char *cont = lang == ISYNTH_LANG_JA
                           ? " 秋の果物を二つ挙げてください。\n入力: なし\n出力: 柿、梨"
                           : " Name two autumn fruits.\nInput: <noinput>\n"
                             "Output: Persimmon, pear";
    char full[512];
    snprintf(full, sizeof full, "%s%s", pr.parse_prefix, cont);
    assert_int_equal(isynth_parse_tasks(full, strlen(full), &ps, &parsed, NULL), ISYNTH_OK);
    assert_int_equal(parsed->n, 1);
    assert_string_equal(parsed->tasks[0].input, "");
    assert_non_null(strstr(parsed->tasks[0].output, lang == ISYNTH_LANG_JA ? "柿" : "pear"));
    isynth_parsed_free(parsed);
    isynth_prompt_clear(&pr);
}

static void test_roundtrip_ja(void **state)
{
    (void)state;
    roundtrip(ISYNTH_LANG_JA);
}

static void test_roundtrip_en(void **state)
{
    (void)state;
    roundtrip(ISYNTH_LANG_EN);
}

static void test_template_and_cap(void **state)
{
    (void)state;
    char longout[3000];
    memset(longout, 'a', sizeof longout - 1);
    longout[sizeof longout - 1] = '\0';
    isynth_task t = T("長い出力の例", "", longout);
    const isynth_task *ex[1] = {&t};
    isynth_prompt_params pp = isynth_prompt_params_default();
    pp.template_text = "EX:{{examples}}|N={{count}}|NEXT={{next}}|{{unknown}}|T={{topic}}";
    pp.topic = "料理";
    pp.n_new = 7;
    isynth_prompt pr;
    assert_int_equal(isynth_prompt_build(&pp, ex, 1, &pr, NULL), ISYNTH_OK);
    assert_non_null(strstr(pr.user, "|N=7|NEXT=2|{{unknown}}|T=料理"));
    assert_true(strlen(pr.user) < 1000); /* the 3000-byte output was cut */
    assert_non_null(strstr(pr.user, "…"));
    isynth_prompt_clear(&pr);

    pp.template_text = NULL;
    assert_int_equal(isynth_prompt_build(&pp, ex, 1, &pr, NULL), ISYNTH_OK);
    assert_non_null(strstr(pr.user, "どれも「料理」に関する")); /* the built-in rule */
    isynth_prompt_clear(&pr);
    pp.topic = NULL;
    pp.two_stage = true;
    assert_int_equal(isynth_prompt_build(&pp, ex, 1, &pr, NULL), ISYNTH_OK);
    assert_null(strstr(pr.user, "aaaa")); /* instructions only */
    isynth_prompt_clear(&pr);
    isynth_task q = T("俳句を一つ作ってください。", "テーマ: 雪", "");
    assert_int_equal(isynth_prompt_answer(&pp, &q, &pr, NULL), ISYNTH_OK);
    assert_string_equal(pr.user, "俳句を一つ作ってください。\n\nテーマ: 雪");
    isynth_prompt_clear(&pr);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    isynth_task t = T("指示", "入力", "出力");
    const isynth_task *ex[1] = {&t};
    isynth_prompt_params pp = isynth_prompt_params_default();
    for (long n = 1;; n++) {
        isynth_prompt pr;
        isynth_alloc_fail_at(n, true);
        isynth_err rc = isynth_prompt_build(&pp, ex, 1, &pr, NULL);
        isynth_alloc_fail_at(0, false);
        if (!rc) {
            isynth_prompt_clear(&pr);
            break;
        }
        assert_int_equal(rc, ISYNTH_ERR_NOMEM);
        assert_null(pr.user);
        assert_true(n < 200);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_ja),
        cmocka_unit_test(test_roundtrip_en),
        cmocka_unit_test(test_template_and_cap),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
