/* Tokenisers: Japanese characters one by one, Latin words whole, NFKC and case folding,
 * rouge-score's tokenizer reproduced, MeCab words, bad input, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "isynth/rouge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokenises text and joins the token texts with '|' into out. */
static size_t tokens(isynth_tokenizer *tok, const char *text, char *out, size_t cap)
{
    uint32_t *ids;
    size_t n;
    isynth_error err;
    isynth_err rc = isynth_tokenize(tok, text, strlen(text), &ids, &n, &err);
    assert_int_equal(rc, ISYNTH_OK);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = isynth_tokenizer_token(tok, ids[i], &len);
        assert_non_null(s);
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "|" : "", (int)len, s);
    }
    isynth_free(ids);
    return n;
}

#define EXPECT(tok, text, want)                                                                    \
    do {                                                                                           \
        char got_[1024];                                                                           \
        tokens(tok, text, got_, sizeof got_);                                                      \
        assert_string_equal(got_, want);                                                           \
    } while (0)

static void test_chars(void **state)
{
    (void)state;
    isynth_tokenizer *t;
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &t, NULL), ISYNTH_OK);
    EXPECT(t, "PythonでFizzBuzzを実装して。", "python|で|fizzbuzz|を|実|装|し|て");
    EXPECT(t, "日本の首都はどこですか？", "日|本|の|首|都|は|ど|こ|で|す|か");
    /* NFKC: full-width Latin and digits, half-width katakana with voicing marks */
    EXPECT(t, "ＡＢＣ１２３とｶﾞｲﾄﾞ", "abc123|と|ガ|イ|ド");
    /* case folding and compatibility forms */
    EXPECT(t, "Straße ＳＴＲＡＳＳＥ", "strasse|strasse");
    EXPECT(t, "「例」、（注）・ー！？ 🍣 ♪", "例|注|ー");
    EXPECT(t, "々と〆とヶ月", "々|と|〆|と|ヶ|月");
    EXPECT(t, "café naïve", "café|naïve");
    EXPECT(t, "e\xCC\x81t\xC3\xA9", "été"); /* decomposed input composes */
    EXPECT(t, "", "");
    EXPECT(t, "  \t\n ", "");
    /* the same token always gets the same id */
    uint32_t *a, *b;
    size_t na, nb;
    assert_int_equal(isynth_tokenize(t, "文章を要約", 15, &a, &na, NULL), ISYNTH_OK);
    assert_int_equal(isynth_tokenize(t, "要約文", 9, &b, &nb, NULL), ISYNTH_OK);
    assert_int_equal(na, 5);
    assert_int_equal(nb, 3);
    assert_int_equal(a[3], b[0]);
    assert_int_equal(a[4], b[1]);
    assert_int_equal(a[0], b[2]);
    isynth_free(a);
    isynth_free(b);
    size_t vs = isynth_tokenizer_vocab_size(t);
    assert_true(vs > 20);
    size_t len;
    assert_null(isynth_tokenizer_token(t, (uint32_t)vs, &len));
    isynth_tokenizer_free(t);
}

static void test_words_like_rouge_score(void **state)
{
    (void)state;
    isynth_tokenizer *t;
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_WORDS, &t, NULL), ISYNTH_OK);
    EXPECT(t, "Hello, World! It's 2024-05-01; e-mail me_now.",
           "hello|world|it|s|2024|05|01|e|mail|me|now");
    EXPECT(t, "日本語の文章だけ", "");
    EXPECT(t, "ＡＢＣ café", "caf"); /* no NFKC in rouge-score: full-width letters vanish */
    EXPECT(t, "\xC4\xB0stanbul \xE2\x84\xAA", "i|stanbul|k"); /* İ -> "i̇", Kelvin -> k */
    EXPECT(t, "running runs", "running|runs");                /* no stemming */
    isynth_tokenizer_free(t);
}

static void test_mecab(void **state)
{
    (void)state;
    isynth_tokenizer *t;
    isynth_error err;
    isynth_err rc = isynth_tokenizer_new(ISYNTH_TOKENIZER_MECAB, &t, &err);
    if (rc == ISYNTH_ERR_NOT_FOUND) {
        assert_non_null(strstr(err.msg, "mecab"));
        if (ISYNTH_REQUIRE_ALL) fail_msg("MeCab is required here: %s", err.msg);
        skip();
    }
    assert_int_equal(rc, ISYNTH_OK);
    char out[1024];
    size_t n = tokens(t, "東京都に行きたい。", out, sizeof out);
    assert_true(n >= 3);
    assert_null(strstr(out, "。"));
    assert_non_null(strstr(out, "東京"));
    n = tokens(t, "ＰｙｔｈｏｎでＡＰＩを呼ぶ", out, sizeof out);
    assert_non_null(strstr(out, "python"));
    n = tokens(t, "", out, sizeof out);
    assert_int_equal(n, 0);
    isynth_tokenizer_free(t);
}

static void test_bad_input(void **state)
{
    (void)state;
    isynth_tokenizer *t;
    isynth_error err;
    uint32_t *ids = (uint32_t *)1;
    size_t n = 7;
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &t, NULL), ISYNTH_OK);
    assert_int_equal(isynth_tokenize(t, "abc\xC3", 4, &ids, &n, &err), ISYNTH_ERR_UTF8);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, "offset 3"));
    assert_int_equal(isynth_tokenize(t, "a\0b", 3, &ids, &n, &err), ISYNTH_ERR_UTF8);
    assert_int_equal(isynth_tokenize(t, "\xED\xA0\x80", 3, &ids, &n, &err), ISYNTH_ERR_UTF8);
    assert_int_equal(isynth_tokenize(t, "x", ISYNTH_TOKENIZE_MAX_BYTES + 1, &ids, &n, &err),
                     ISYNTH_ERR_TOO_LARGE);
    isynth_tokenizer_free(t);
    isynth_tokenizer_free(NULL);
    assert_int_equal(isynth_tokenizer_new((isynth_tokenizer_kind)9, &t, &err), ISYNTH_ERR_INVALID);
    isynth_tokenizer_kind k;
    assert_int_equal(isynth_tokenizer_kind_from_name("mecab", &k), ISYNTH_OK);
    assert_int_equal(k, ISYNTH_TOKENIZER_MECAB);
    assert_int_equal(isynth_tokenizer_kind_from_name("bpe", &k), ISYNTH_ERR_INVALID);
    assert_string_equal(isynth_tokenizer_kind_name(ISYNTH_TOKENIZER_WORDS), "words");
}

/* The allocation-free counter used by the length filter agrees with the tokenizer, on text
 * and on random code points from the scripts that matter. */
static void test_count_matches_tokenizer(void **state)
{
    (void)state;
    static const char *texts[] = {
        "PythonでFizzBuzzを実装して。", "ＡＢＣ１２３とｶﾞｲﾄﾞ",    "Straße café e\xCC\x81t\xC3\xA9",
        "「例」、（注）・ー！？ 🍣 ♪",   "한국어 텍스트와 日本語", "① ② ⅲ ㍻ ㌔ ﬁ",
        "ﾊﾟﾝﾀﾞ゛゜ か\xE3\x82\x99",     "\xCC\x81 leading mark",
    };
    isynth_tokenizer *t;
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &t, NULL), ISYNTH_OK);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        uint32_t *ids;
        size_t n;
        assert_int_equal(isynth_tokenize(t, texts[i], strlen(texts[i]), &ids, &n, NULL), ISYNTH_OK);
        assert_int_equal(isynth_chars_token_count(texts[i], strlen(texts[i])), n);
        isynth_free(ids);
    }
    static const uint32_t ranges[][2] = {{0x20, 0x7E},     {0xC0, 0x24F},    {0x300, 0x36F},
                                         {0x3000, 0x30FF}, {0x4E00, 0x4E80}, {0xFF00, 0xFFEF},
                                         {0xAC00, 0xAC40}, {0x2460, 0x24FF}, {0x3300, 0x33FF}};
    uint64_t r = 12345;
    for (int round = 0; round < 3000; round++) {
        char buf[256];
        size_t o = 0;
        int k = 1 + (int)(round % 12);
        for (int j = 0; j < k; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const uint32_t *rg = ranges[(r >> 33) % 9];
            uint32_t cp = rg[0] + (uint32_t)((r >> 17) % (rg[1] - rg[0] + 1));
            if (cp < 0x80)
                buf[o++] = (char)cp;
            else if (cp < 0x800) {
                buf[o++] = (char)(0xC0 | cp >> 6);
                buf[o++] = (char)(0x80 | (cp & 63));
            } else {
                buf[o++] = (char)(0xE0 | cp >> 12);
                buf[o++] = (char)(0x80 | ((cp >> 6) & 63));
                buf[o++] = (char)(0x80 | (cp & 63));
            }
        }
        uint32_t *ids;
        size_t n;
        assert_int_equal(isynth_tokenize(t, buf, o, &ids, &n, NULL), ISYNTH_OK);
        if (isynth_chars_token_count(buf, o) != n)
            fail_msg("count differs for %.*s: %zu vs %zu", (int)o, buf,
                     isynth_chars_token_count(buf, o), n);
        isynth_free(ids);
    }
    isynth_tokenizer_free(t);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    static const char *text = "PythonでFizzBuzzを実装してください。Ｗｒｉｔｅ ｉｔ ｎｏｗ";
    for (int kind = 0; kind < 2; kind++)
        for (long k = 1; k < 200; k++) {
            isynth_tokenizer *t = NULL;
            uint32_t *ids = NULL;
            size_t n = 0;
            isynth_alloc_fail_at(k, false);
            isynth_err rc = isynth_tokenizer_new((isynth_tokenizer_kind)kind, &t, NULL);
            for (int rep = 0; !rc && rep < 3; rep++) {
                isynth_free(ids);
                rc = isynth_tokenize(t, text, strlen(text), &ids, &n, NULL);
            }
            long used = isynth_alloc_fail_at(0, false);
            if (rc) {
                assert_int_equal(rc, ISYNTH_ERR_NOMEM);
            } else {
                assert_int_equal(n, kind == 0 ? 15 : 2);
            }
            isynth_free(ids);
            isynth_tokenizer_free(t);
            if (!rc && used < k) break;
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chars),
        cmocka_unit_test(test_words_like_rouge_score),
        cmocka_unit_test(test_mecab),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_count_matches_tokenizer),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
