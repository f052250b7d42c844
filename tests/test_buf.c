/* The capped buffer (src/util.c): every way of adding stops at the cap with
 * ISYNTH_ERR_TOO_LARGE and leaves what the buffer held intact; a buffer never given a cap
 * (zeroed, `buf b = {0}`) holds nothing rather than everything; buf_error names what was too
 * large. And two callers whose caps are new: a prompt and a task's text over their caps fail
 * with ISYNTH_ERR_TOO_LARGE and a message naming what was too large. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "isynth/filter.h"
#include "isynth/prompt.h"

static void test_stops_at_cap(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_adds(&b, "0123456"), ISYNTH_OK);
    /* each way of adding past the cap fails and changes nothing */
    assert_int_equal(buf_adds(&b, "7890"), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_printf(&b, "%d", 7890), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_add_json_str(&b, "ab", 2), ISYNTH_ERR_TOO_LARGE); /* "ab" is 4 */
    assert_int_equal(buf_reserve(&b, 4), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_add(&b, "x", SIZE_MAX), ISYNTH_ERR_TOO_LARGE); /* no overflow */
    assert_int_equal(b.len, 7);
    assert_string_equal(b.p, "0123456");
    /* exactly up to the cap is fine, one byte more is not */
    assert_int_equal(buf_adds(&b, "789"), ISYNTH_OK);
    assert_int_equal(buf_addc(&b, 'x'), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.p, "0123456789");
    /* the cap outlives a reset and a take */
    buf_reset(&b);
    assert_int_equal(buf_adds(&b, "0123456789x"), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_adds(&b, "abc"), ISYNTH_OK);
    char *s = buf_take(&b);
    assert_string_equal(s, "abc");
    isynth_free(s);
    assert_int_equal(buf_adds(&b, "0123456789x"), ISYNTH_ERR_TOO_LARGE);
    buf_free(&b);
}

static void test_zeroed_holds_nothing(void **state)
{
    (void)state;
    buf b = {0}; /* never given a cap: not unlimited */
    assert_int_equal(buf_adds(&b, "a"), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_add(&b, "", 0), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_printf(&b, "%s", "a"), ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(buf_reserve(&b, 1), ISYNTH_ERR_TOO_LARGE);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_error_names_it(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 4);
    isynth_error e;
    isynth_error_clear(&e);
    assert_int_equal(buf_error(&e, buf_adds(&b, "12345"), &b, "x.jsonl", "line 3"),
                     ISYNTH_ERR_TOO_LARGE);
    assert_int_equal(e.code, ISYNTH_ERR_TOO_LARGE);
    assert_string_equal(e.msg, "x.jsonl: line 3 is over the limit of 4 bytes");
    isynth_error_clear(&e);
    assert_int_equal(buf_error(&e, ISYNTH_ERR_NOMEM, &b, NULL, "line 3"), ISYNTH_ERR_NOMEM);
    assert_string_equal(e.msg, "out of memory");
    buf_free(&b);
}

/* n bytes of 'a', NUL-terminated; the caller frees. */
static char *filled(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    return s;
}

static void test_prompt_over_cap(void **state)
{
    (void)state;
    isynth_prompt_params pp = isynth_prompt_params_default();
    char *big = filled(BUF_MAX_PROMPT + 1);
    isynth_task t = {.id = "", .instruction = big, .input = "", .output = "", .eval_aspect = ""};
    isynth_prompt pr;
    isynth_error e;
    isynth_error_clear(&e);
    assert_int_equal(isynth_prompt_answer(&pp, &t, &pr, &e), ISYNTH_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "the prompt is over the limit of 4194304 bytes"));
    assert_null(pr.user);
    /* under the cap, with room for the completion form's labels, it is a prompt */
    big[BUF_MAX_PROMPT - 100] = '\0';
    assert_int_equal(isynth_prompt_answer(&pp, &t, &pr, NULL), ISYNTH_OK);
    assert_int_equal(strlen(pr.user), BUF_MAX_PROMPT - 100);
    isynth_prompt_clear(&pr);
    free(big);
}

static void test_task_text_over_cap(void **state)
{
    (void)state;
    isynth_filter_params p = isynth_filter_params_default();
    isynth_filter *f;
    assert_int_equal(isynth_filter_new(&p, &f, NULL), ISYNTH_OK);
    char *big = filled(ISYNTH_TOKENIZE_MAX_BYTES);
    isynth_task t = {.id = "", .instruction = big, .input = "b", .output = "", .eval_aspect = ""};
    isynth_error e;
    isynth_error_clear(&e);
    assert_int_equal(isynth_filter_add(f, "s1", &t, &e), ISYNTH_ERR_TOO_LARGE);
    assert_string_equal(e.msg,
                        "a task's instruction and input is over the limit of 16777217 bytes");
    isynth_filter_free(f);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stops_at_cap),       cmocka_unit_test(test_zeroed_holds_nothing),
        cmocka_unit_test(test_error_names_it),     cmocka_unit_test(test_prompt_over_cap),
        cmocka_unit_test(test_task_text_over_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
