/* Normaliser and dedup keys: width, spacing and punctuation variants of one Japanese text
 * must collide; distinct texts must not; bad bytes are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "isynth/normalize.h"

static char *norm(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(isynth_normalize_text(s, strlen(s), &out, &len, NULL), ISYNTH_OK);
    assert_int_equal(strlen(out), len);
    return out;
}

static char *key(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(isynth_normalize_dedup_key(s, strlen(s), &out, &len, NULL), ISYNTH_OK);
    return out;
}

static void check_norm(const char *in, const char *want)
{
    char *got = norm(in);
    assert_string_equal(got, want);
    isynth_free(got);
}

static void test_nfkc_width(void **state)
{
    (void)state;
    check_norm("ＡＢＣ１２３", "ABC123");
    check_norm("ｶﾀｶﾅ", "カタカナ");
    check_norm("①番目", "1番目");
}

static void test_whitespace(void **state)
{
    (void)state;
    check_norm("  東京\u3000タワー  ", "東京 タワー");
    check_norm("a\r\nb\rc", "a\nb\nc");
    check_norm("一行目   \n\n\n\n二行目\t\t", "一行目\n\n二行目");
    check_norm("\n\n  \n", "");
    check_norm("", "");
}

static void test_keys_collide(void **state)
{
    (void)state;
    const char *variants[] = {"東京はどこ？", "東京は、どこ?", " 東京 は どこ ？ ", "東京はどこ"};
    char *k0 = key(variants[0]);
    for (size_t i = 1; i < 4; i++) {
        char *k = key(variants[i]);
        assert_string_equal(k0, k);
        isynth_free(k);
    }
    char *other = key("大阪はどこ？");
    assert_string_not_equal(k0, other);
    isynth_free(other);
    isynth_free(k0);
    char *a = key("Hello, World!");
    char *b = key("hello world");
    assert_string_equal(a, b);
    isynth_free(a);
    isynth_free(b);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    char *out = (char *)1;
    size_t len;
    isynth_error e;
    assert_int_equal(isynth_normalize_text("ab\xff", 3, &out, &len, &e), ISYNTH_ERR_UTF8);
    assert_null(out);
    assert_non_null(strstr(e.msg, "byte 2"));
    assert_int_equal(isynth_normalize_dedup_key("\xe3\x81", 2, &out, &len, NULL), ISYNTH_ERR_UTF8);
    assert_int_equal(isynth_normalize_text("a\0b", 3, &out, &len, NULL), ISYNTH_ERR_UTF8);
}

static void test_chars(void **state)
{
    (void)state;
    assert_int_equal(isynth_normalize_utf8_chars("日本語abc", strlen("日本語abc")), 6);
    assert_int_equal(isynth_normalize_utf8_chars("", 0), 0);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    const char *s = "ＡＢＣ  東京\u3000タワー\r\n\n\n終わり";
    for (long n = 1;; n++) {
        isynth_alloc_fail_at(n, true);
        char *out = NULL;
        size_t len;
        isynth_err rc = isynth_normalize_text(s, strlen(s), &out, &len, NULL);
        isynth_alloc_fail_at(0, false);
        if (rc == ISYNTH_OK) {
            assert_string_equal(out, "ABC 東京 タワー\n\n終わり");
            isynth_free(out);
            break;
        }
        assert_int_equal(rc, ISYNTH_ERR_NOMEM);
        assert_null(out);
        assert_true(n < 100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfkc_width),   cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_keys_collide), cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_chars),        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
