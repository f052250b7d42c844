/* isynth_check_write: the kept and rejected files of `isynth check`, and the causes it reports
 * when a row cannot be written (text that is not UTF-8, stored JSON that does not parse), which
 * once all came back as "out of memory". The checking itself is exercised through the CLI
 * (tests/cli.cmake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "isynth/check.h"

#define TMPDIR_NAME "check"
#include "tmpdir.h"

static char kept_path[256], rejected_path[256];

static int fresh(void **state)
{
    if (setup(state)) return -1;
    snprintf(kept_path, sizeof kept_path, "%s/kept.jsonl", dir);
    snprintf(rejected_path, sizeof rejected_path, "%s/rejected.jsonl", dir);
    return 0;
}

/* Two rows (borrowed strings): line 1 kept, judged; line 2 rejected. */
static void two_rows(isynth_check_row rows[2], isynth_check_result *r)
{
    memset(rows, 0, 2 * sizeof *rows);
    static char id1[] = "a1", in1[] = "光合成を説明して。", e[] = "",
                out1[] = "植物が光で養分を作る。";
    static char id2[] = "seed-2", in2[] = "俳句を作って。", out2[] = "古池や";
    rows[0].task = (isynth_task){
        .id = id1, .instruction = in1, .input = e, .output = out1, .eval_aspect = e, .line = 1};
    rows[0].has_id = true;
    rows[0].verify = "[]";
    rows[0].judge_score = 4;
    rows[0].judge_reason = "よい";
    rows[0].judge_false_claims = "[]";
    rows[0].judge_model = "judge-model";
    rows[1].task = (isynth_task){
        .id = id2, .instruction = in2, .input = e, .output = out2, .eval_aspect = e, .line = 2};
    rows[1].reason = "rouge";
    snprintf(rows[1].detail, sizeof rows[1].detail, "s3 rouge_l=0.812");
    *r = (isynth_check_result){.rows = rows, .n = 2, .kept = 1, .rejected = 1};
}

static long file_lines(const char *path, char *first, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (n++ == 0) snprintf(first, cap, "%s", line);
    fclose(f);
    return n;
}

static void test_write(void **state)
{
    (void)state;
    isynth_check_row rows[2];
    isynth_check_result r;
    two_rows(rows, &r);
    isynth_error e;
    assert_int_equal(isynth_check_write(&r, kept_path, rejected_path, &e), ISYNTH_OK);
    char first[4096];
    assert_int_equal(file_lines(kept_path, first, sizeof first), 1);
    assert_non_null(strstr(first, "\"id\":\"a1\""));
    assert_non_null(strstr(first, "\"judge\":{\"score\":4,\"reason\":\"よい\",\"false_claims\":[],"
                                  "\"model\":\"judge-model\"}"));
    assert_int_equal(file_lines(rejected_path, first, sizeof first), 1);
    assert_non_null(strstr(first, "\"detail\":\"s3 rouge_l=0.812\",\"line\":2"));
}

/* A detail cut inside a character (a long reference cut at the buffer's end): the row and the
 * field are named, the cause is UTF-8, and neither file is left behind. */
static void test_detail_not_utf8(void **state)
{
    (void)state;
    isynth_check_row rows[2];
    isynth_check_result r;
    two_rows(rows, &r);
    snprintf(rows[1].detail, sizeof rows[1].detail, "%s rouge_l=0.9", "\xe5\x85"); /* cut 光 */
    isynth_error e;
    isynth_error_clear(&e);
    assert_int_equal(isynth_check_write(&r, kept_path, rejected_path, &e), ISYNTH_ERR_UTF8);
    assert_non_null(strstr(e.msg, "line 2: detail"));
    assert_null(strstr(e.msg, "out of memory"));
    assert_int_equal(access(kept_path, F_OK), -1);
    assert_int_equal(access(rejected_path, F_OK), -1);
}

/* Stored JSON that does not parse (the verifier's facts, the judge's claims) is a parse error
 * naming the row and the field. */
static void test_bad_json(void **state)
{
    (void)state;
    isynth_check_row rows[2];
    isynth_check_result r;
    two_rows(rows, &r);
    rows[0].verify = "[\"unterminated";
    isynth_error e;
    isynth_error_clear(&e);
    assert_int_equal(isynth_check_write(&r, kept_path, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "line 1: verify"));
    two_rows(rows, &r);
    rows[0].judge_false_claims = "{";
    isynth_error_clear(&e);
    assert_int_equal(isynth_check_write(&r, kept_path, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "line 1: false_claims"));
    assert_int_equal(access(kept_path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write, fresh, teardown),
        cmocka_unit_test_setup_teardown(test_detail_not_utf8, fresh, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json, fresh, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
