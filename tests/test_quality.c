/* The Self-Instruct filters besides ROUGE-L, each on Japanese and English: keywords with
 * script-run boundaries, length in tokens, leading punctuation or non-text, language share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "isynth/quality.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(x) (x), strlen(x)

static void expect_reason(const char *got, const char *want, const char *text)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want)))
        fail_msg("%s: got %s, want %s", text, got ? got : "pass", want ? want : "pass");
}

static void test_keywords(void **state)
{
    (void)state;
    isynth_keywords *kw;
    assert_int_equal(isynth_keywords_default(&kw, NULL), ISYNTH_OK);
    assert_int_equal(isynth_keywords_count(kw), 29);
    static const struct {
        const char *text, *want;
    } cases[] = {
        /* English: Self-Instruct's list on word boundaries */
        {"Describe the image below.", "keyword"},
        {"Draw a cat.", "keyword"},
        {"Plot the data as a GRAPH", "keyword"},
        {"Please go  to the store", "keyword"},
        {"Update your profile settings.", NULL},
        {"Write a paragraph about imagination.", NULL},
        {"Explain how mapping works.", NULL},
        {"Tell me a joke.", NULL},
        /* Japanese: substrings, but not inside a longer run of the same script */
        {"次の画像を説明してください。", "keyword"},
        {"この図を見て答えてください", "keyword"},
        {"グラフを作成してください。", "keyword"},
        {"猫の絵を描いて", "keyword"},
        {"地図で東京を示して", "keyword"},
        {"ＰＤＦファイルを要約して", "keyword"},
        {"ﾌｧｲﾙを開いて", "keyword"},
        {"この写真について教えて", "keyword"},
        {"作者の意図を説明してください。", NULL},
        {"図書館の使い方を教えて", NULL},
        {"プロファイルの意味を説明して", NULL},
        {"グラフィックデザインとは何ですか", NULL},
        {"日本の首都はどこですか？", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_reason(isynth_quality_keywords(kw, S(cases[i].text), NULL), cases[i].want,
                      cases[i].text);
    size_t which = 99;
    assert_non_null(isynth_quality_keywords(kw, S("動画を編集して"), &which));
    assert_int_equal(which, 22);
    assert_string_equal(isynth_quality_keywords(kw, S("bad \xff"), NULL), "invalid_utf8");
    assert_null(isynth_quality_keywords(NULL, S("image"), NULL));
    isynth_keywords_free(kw);
}

static void test_keywords_file(void **state)
{
    (void)state;
    char path[] = "/tmp/isynth-kw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *body = "\xEF\xBB\xBF# my list\r\n  表  \r\n\nspreadsheet\n";
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    close(fd);
    isynth_keywords *kw;
    isynth_error err;
    assert_int_equal(isynth_keywords_load(path, &kw, &err), ISYNTH_OK);
    assert_int_equal(isynth_keywords_count(kw), 2);
    assert_non_null(isynth_quality_keywords(kw, S("次の表を埋めて"), NULL));
    assert_null(isynth_quality_keywords(kw, S("表現を工夫して"), NULL));
    assert_non_null(isynth_quality_keywords(kw, S("Make a Spreadsheet."), NULL));
    isynth_keywords_free(kw);
    /* a bad line is named */
    FILE *f = fopen(path, "wb");
    fputs("ok\nfine\nbad\xff\n", f);
    fclose(f);
    assert_int_equal(isynth_keywords_load(path, &kw, &err), ISYNTH_ERR_UTF8);
    assert_null(kw);
    char want[256];
    snprintf(want, sizeof want, "%s:3:", path);
    assert_non_null(strstr(err.msg, want));
    remove(path);
    assert_int_equal(isynth_keywords_load("/nonexistent/kw.txt", &kw, &err), ISYNTH_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/kw.txt"));
}

static void test_length(void **state)
{
    (void)state;
    isynth_quality_params ja = isynth_quality_params_default(ISYNTH_LANG_JA);
    isynth_quality_params en = isynth_quality_params_default(ISYNTH_LANG_EN);
    /* real short Japanese instructions pass; Self-Instruct's split() would see one word */
    expect_reason(isynth_quality_length(S("俳句を作って"), ja.min_tokens, ja.max_tokens), NULL,
                  "haiku");
    expect_reason(
        isynth_quality_length(S("日本の首都はどこですか？"), ja.min_tokens, ja.max_tokens), NULL,
        "capital");
    expect_reason(isynth_quality_length(S("要約。"), ja.min_tokens, ja.max_tokens),
                  "too_short_tokens", "youyaku");
    expect_reason(isynth_quality_length(S("Write a poem."), en.min_tokens, en.max_tokens),
                  "too_short_tokens", "poem");
    expect_reason(
        isynth_quality_length(S("Write a poem about autumn."), en.min_tokens, en.max_tokens), NULL,
        "poem autumn");
    char big[3000] = "";
    for (int i = 0; i < 100; i++)
        strcat(big, "長い文。");
    expect_reason(isynth_quality_length(S(big), ja.min_tokens, ja.max_tokens), NULL, "300");
    for (int i = 0; i < 50; i++)
        strcat(big, "長い文。");
    expect_reason(isynth_quality_length(S(big), ja.min_tokens, ja.max_tokens), "too_long_tokens",
                  "450");
    expect_reason(isynth_quality_length(S(big), 1, 0), NULL, "no max");
}

static void test_start(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"「猫」という言葉を使って短い詩を書いて", NULL},
        {"3つの例を挙げてください", NULL},
        {"  日本語で答えて", NULL},
        {"(Optional) Write a summary.", NULL},
        {"\"Hello\" in French?", NULL},
        {"Write a story.", NULL},
        {"。次の文を訳して", "starts_with_punctuation"},
        {"、そして説明して", "starts_with_punctuation"},
        {"- Write a story.", "starts_with_punctuation"},
        {"・箇条書きで答えて", "starts_with_punctuation"},
        {"」を説明して", "starts_with_punctuation"},
        {"# Instruction", "starts_with_punctuation"},
        {"🍣について語って", "starts_with_non_text"},
        {"$100 budget", "starts_with_non_text"},
        {"\xCC\x81 stray mark", "starts_with_non_text"},
        {"   \n\t ", "empty"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_reason(isynth_quality_start(S(cases[i].text)), cases[i].want, cases[i].text);
}

static void test_language(void **state)
{
    (void)state;
    isynth_quality_params ja = isynth_quality_params_default(ISYNTH_LANG_JA);
    isynth_quality_params en = isynth_quality_params_default(ISYNTH_LANG_EN);
    static const struct {
        const char *text;
        int lang;
        const char *want;
    } cases[] = {
        {"日本の首都はどこですか？", 1, NULL},
        {"PythonでFizzBuzzを実装してください", 1, NULL},
        {"ＡＰＩの使い方を説明して", 1, NULL},
        {"Write a poem about autumn.", 1, "wrong_language"},
        {"请写一首关于秋天的诗", 1, "wrong_language"}, /* Chinese: kanji, no kana */
        {"東京都庁所在地", 1, NULL},                   /* short kanji-only phrase */
        {"12345", 1, "no_letters"},
        {"Write a poem about autumn.", 0, NULL},
        {"Translate 猫 into English.", 0, NULL},
        {"日本の首都はどこですか？", 0, "wrong_language"},
        {"Translate 'ありがとうございます' to English", 0, NULL}, /* quoting is fine */
        {"ありがとうを English に訳して", 0, "wrong_language"},
        {"Ｗｒｉｔｅ ａ ｓｔｏｒｙ", 0, NULL},
        {"???", 0, "no_letters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const isynth_quality_params *p = cases[i].lang ? &ja : &en;
        expect_reason(isynth_quality_language(S(cases[i].text), p->lang, p->min_lang_ratio),
                      cases[i].want, cases[i].text);
    }
}

static void test_chain(void **state)
{
    (void)state;
    isynth_keywords *kw;
    assert_int_equal(isynth_keywords_default(&kw, NULL), ISYNTH_OK);
    isynth_quality_params ja = isynth_quality_params_default(ISYNTH_LANG_JA);
    isynth_quality_params en = isynth_quality_params_default(ISYNTH_LANG_EN);
    expect_reason(isynth_quality_check(&ja, kw, S("次の文章を三行で要約してください。")), NULL,
                  "ok ja");
    expect_reason(isynth_quality_check(&ja, kw, S("次の画像を説明してください。")), "keyword",
                  "img");
    expect_reason(isynth_quality_check(&ja, kw, S("・画像")), "starts_with_punctuation", "dot");
    expect_reason(isynth_quality_check(&ja, kw, S("Summarize the following article in brief.")),
                  "wrong_language", "en in ja");
    expect_reason(isynth_quality_check(&en, kw, S("Summarize the following article.")), NULL,
                  "ok en");
    expect_reason(isynth_quality_check(&en, kw, S("Draw it.")), "too_short_tokens", "short");
    expect_reason(isynth_quality_check(&en, NULL, S("Draw a picture of a cat.")), NULL, "no kw");
    expect_reason(isynth_quality_check(&en, kw, S("ok\xc0")), "invalid_utf8", "bad");
    isynth_keywords_free(kw);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long k = 1; k < 200; k++) {
        isynth_keywords *kw = NULL;
        isynth_alloc_fail_at(k, false);
        isynth_err rc = isynth_keywords_default(&kw, NULL);
        long used = isynth_alloc_fail_at(0, false);
        if (rc) {
            assert_int_equal(rc, ISYNTH_ERR_NOMEM);
            assert_null(kw);
        } else {
            assert_int_equal(isynth_keywords_count(kw), 29);
        }
        isynth_keywords_free(kw);
        if (!rc && used < k) break;
    }
}

/* Language detection (seeds, outputs) and the language filter count one letter set: for each
 * text, what isynth_lang_detect says and what the ja filter (share 0.3, its default) and the en
 * filter (0.6) say. Japanese first: kana, kana and kanji, kanji alone; Chinese is ja to the
 * detector (it knows two languages) and wrong_language to the ja filter. Full-width Latin and
 * Cyrillic are letters to both now: the detector said ja for the two cases marked (*), where
 * the ja filter said wrong_language. */
static void test_detect_and_filter_agree(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        isynth_lang detected;
        const char *ja, *en;
    } cases[] = {
        {"カタカナとひらがな", ISYNTH_LANG_JA, NULL, "wrong_language"},
        {"日本語の文です。", ISYNTH_LANG_JA, NULL, "wrong_language"},
        {"東京都庁所在地", ISYNTH_LANG_JA, NULL, "wrong_language"}, /* kanji only, short */
        {"我们今天去北京参观故宫博物院", ISYNTH_LANG_JA, "wrong_language", "wrong_language"},
        {"ｶﾀｶﾅ 123", ISYNTH_LANG_JA, NULL, "wrong_language"}, /* half-width kana */
        {"Pythonでリストを並べ替える方法を教えてください。", ISYNTH_LANG_JA, NULL,
         "wrong_language"},
        {"ＰｙｔｈｏｎとＪａｖａＳｃｒｉｐｔ", ISYNTH_LANG_EN, "wrong_language", NULL}, /* (*) */
        {"Это очень длинное предложение です", ISYNTH_LANG_EN, "wrong_language",
         "wrong_language"}, /* (*) */
        {"Привет мир こんにちは", ISYNTH_LANG_JA, NULL, "wrong_language"},
        {"An English sentence.", ISYNTH_LANG_EN, "wrong_language", NULL},
        {"Café crème brûlée", ISYNTH_LANG_EN, "wrong_language", NULL},
        {"１２３ 456 !?", ISYNTH_LANG_EN, "no_letters", "no_letters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        const char *texts[1] = {t};
        assert_int_equal(isynth_lang_detect(texts, 1), cases[i].detected);
        const char *ja = isynth_quality_language(t, strlen(t), ISYNTH_LANG_JA, 0.3);
        const char *en = isynth_quality_language(t, strlen(t), ISYNTH_LANG_EN, 0.6);
        if (cases[i].ja)
            assert_string_equal(ja, cases[i].ja);
        else
            assert_null(ja);
        if (cases[i].en)
            assert_string_equal(en, cases[i].en);
        else
            assert_null(en);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords), cmocka_unit_test(test_keywords_file),
        cmocka_unit_test(test_length),   cmocka_unit_test(test_start),
        cmocka_unit_test(test_language), cmocka_unit_test(test_detect_and_filter_agree),
        cmocka_unit_test(test_chain),    cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
