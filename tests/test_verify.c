/* Facts to verify: the exact list for planted facts in Japanese (MeCab + IPAdic) and English
 * (rules), the negatives a reviewer must not be bothered with, the caps, invalid input and an
 * allocation-failure walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "isynth/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) (x), strlen(x)

typedef struct vcase {
    const char *text, *want;
} vcase;

/* Prints a mismatch and returns false. */
static bool check_json(isynth_verifier *v, isynth_lang lang, const char *text, const char *want)
{
    char *js = NULL;
    isynth_error err;
    isynth_err rc = isynth_verify_json(v, S(text), lang, &js, &err);
    if (rc) {
        print_error("%s: %s\n", text, err.msg);
        return false;
    }
    bool ok = !strcmp(js, want);
    if (!ok) print_error("%s\n  got  %s\n  want %s\n", text, js, want);
    isynth_free(js);
    return ok;
}

static void expect_json(isynth_verifier *v, isynth_lang lang, const char *text, const char *want)
{
    if (!check_json(v, lang, text, want)) fail();
}

/* Runs every case, then fails when any was wrong. */
static void run_cases(isynth_verifier *v, isynth_lang lang, const vcase *cases, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !check_json(v, lang, cases[i].text, cases[i].want);
    if (bad) fail_msg("%zu of %zu cases wrong", bad, n);
}

static isynth_verifier *new_verifier(bool mecab)
{
    isynth_verify_params p = isynth_verify_params_default();
    p.use_mecab = mecab;
    isynth_verifier *v = NULL;
    isynth_error err;
    if (isynth_verifier_new(&p, &v, &err)) fail_msg("verifier: %s", err.msg);
    return v;
}

static const vcase ja_cases[] = {
    /* planted facts */
    {"夏目漱石は2006年にノーベル文学賞を受賞しました。",
     "[\"夏目漱石\",\"2006年\",\"ノーベル文学賞\"]"},
    {"富士山の高さは3,776メートルで、静岡県と山梨県にまたがっています。",
     "[\"富士山\",\"3,776メートル\",\"静岡県\",\"山梨県\"]"},
    {"東京スカイツリーは2012年5月22日に開業した。", "[\"東京スカイツリー\",\"2012年5月22日\"]"},
    {"明治元年に生まれ、昭和20年8月15日に終戦を迎えた。", "[\"明治元年\",\"昭和20年8月15日\"]"},
    {"平成三十一年と令和5年。", "[\"平成三十一年\",\"令和5年\"]"},
    {"19世紀の東京都で人口が増えた。", "[\"19世紀\",\"東京都\"]"},
    {"標高は約3,776メートル、成功率は42%、湿度は65％です。",
     "[\"約3,776メートル\",\"42%\",\"65％\"]"},
    {"会場には三百人が集まり、料金は1,000円だった。", "[\"三百人\",\"1,000円\"]"},
    {"日本の人口は約1億2,000万人です。", "[\"日本\",\"約1億2,000万人\"]"},
    {"2024年度の予算の3分の1は教育費で、1990年代から続く。",
     "[\"2024年度\",\"3分の1\",\"1990年代\"]"},
    {"会議は10時30分に始まり、5〜10人が参加した。", "[\"10時30分\",\"5〜10人\"]"},
    {"東京大学の山田太郎教授は、トヨタ自動車と共同研究を行った。",
     "[\"東京大学\",\"山田太郎\",\"トヨタ自動車\"]"},
    {"芥川賞を受賞した村上春樹の『ノルウェイの森』は1987年に出版された。",
     "[\"芥川賞\",\"村上春樹\",\"ノルウェイの森\",\"1987年\"]"},
    {"源氏物語は紫式部が書き、徳川家康が江戸幕府を開いた。",
     "[\"源氏物語\",\"紫式部\",\"徳川家康\",\"江戸幕府\"]"},
    {"ビル・ゲイツとスティーブ・ジョブズは同じ1955年生まれだ。",
     "[\"ビル・ゲイツ\",\"スティーブ・ジョブズ\",\"1955年\"]"},
    {"レオナルド・ダ・ヴィンチのモナ・リザ。", "[\"レオナルド・ダ・ヴィンチ\",\"モナ・リザ\"]"},
    {"ロンドン・パリ・ニューヨークを訪れた。", "[\"ロンドン\",\"パリ\",\"ニューヨーク\"]"},
    {"宮崎駿監督の映画『千と千尋の神隠し』は2001年に公開された。",
     "[\"宮崎駿\",\"千と千尋の神隠し\",\"2001年\"]"},
    {"気温は-5度から30°Cまで変わる。", "[\"-5度\",\"30°C\"]"},
    {"西暦2006年と紀元前3世紀。", "[\"西暦2006年\",\"紀元前3世紀\"]"},
    {"1867年2月9日に生まれ、3年間留学した。", "[\"1867年2月9日\",\"3年間\"]"},
    {"田中さんとアインシュタイン博士が話した。", "[\"田中\",\"アインシュタイン\"]"},
    {"ノーベル物理学賞を受賞した湯川秀樹は大阪府の出身だ。",
     "[\"ノーベル物理学賞\",\"湯川秀樹\",\"大阪府\"]"},
    {"ロサンゼルス・ドジャースの本拠地はロサンゼルスです。",
     "[\"ロサンゼルス・ドジャース\",\"ロサンゼルス\"]"},
    {"1日3食を食べ、1日2回歯を磨く。", "[\"1日2回\"]"},
    /* a count with つ that is the answer; planets */
    {"8つです。最も太陽に近いのは水星です。", "[\"8つ\",\"水星\"]"},
    {"太陽系の惑星は全部で8つです。八つです。", "[\"8つ\",\"八つ\"]"},
    {"太陽系には8つの惑星があり、火星と木星の間に小惑星帯がある。", "[\"8つ\",\"火星\",\"木星\"]"},
    /* 代 counts reigns and generations; events IPAdic does not tag as proper nouns */
    {"1867年、江戸幕府の15代将軍徳川慶喜が大政奉還を行いました。",
     "[\"1867年\",\"江戸幕府\",\"15代\",\"徳川慶喜\",\"大政奉還\"]"},
    {"第3代大統領と20代の若者。", "[\"第3代\",\"20代\"]"},
    {"応仁の乱、本能寺の変、関ヶ原の戦い、明治維新と廃藩置県。",
     "[\"応仁の乱\",\"本能寺の変\",\"関ヶ原の戦い\",\"明治維新\",\"廃藩置県\"]"},
    /* weekdays */
    {"毎週月曜日から金曜日の午後8時まで、土曜は正午まで営業しています。",
     "[\"月曜日\",\"金曜日\",\"8時\",\"土曜\"]"},
    /* Latin inside Japanese: names and versions, not acronyms */
    {"Python 3.12を使い、ChatGPTとGoogleで調べた。AIとAPIも使う。",
     "[\"Python 3.12\",\"ChatGPT\",\"Google\"]"},
    {"距離は1.5kmで、容量は16 GBです。", "[\"1.5km\",\"16 GB\"]"},
    /* duplicates and common nouns after a proper noun */
    {"東京と東京と東京。", "[\"東京\"]"},
    {"日本経済と日本の文化について。", "[\"日本\"]"},
    /* nothing to check */
    {"次の文章を要約してください", "[]"},
    {"1つ目の項目を確認し、2番目の手順に進む。", "[]"},
    {"タスク1を実行してください。", "[]"},
    {"1. 最初の項目\n2. 次の項目\n3) 最後の項目", "[]"},
    {"3 + 5 = 8 です。", "[]"},
    {"三つの理由を挙げ、一度だけ二人で数百人に説明した。", "[]"},
    {"第3章を3行で、100文字以内で書いてください。", "[]"},
    {"中国語と英語と日本語を話す。", "[]"},
    {"日米関係について説明してください。", "[]"},
    {"コードは```\n東京 2006年\n```です。", "[]"},
    /* counts of the answer's own points, ordinals and words that only look like events */
    {"理由は3つあります。注意点は2つです。3つのポイントがあります。", "[]"},
    {"3つあります。1つ目は速さです。", "[]"},
    {"3つ挙げてください。3つだけ選び、もう一つは次の3つです。", "[]"},
    {"第3章と3代目の社長。", "[]"},
    {"最後の戦い、顔の変な形、心の乱れ、殺人事件と戦争と平和。", "[]"},
    {"何曜日ですか。地球と月と太陽。水星人。", "[]"},
    {"詳細は https://example.com/2024/05 を参照。", "[]"},
    {"", "[]"},
};

static const vcase en_cases[] = {
    /* planted facts */
    {"Mount Fuji is 3,776 m high and lies between Shizuoka and Yamanashi.",
     "[\"Mount Fuji\",\"3,776 m\",\"Shizuoka\",\"Yamanashi\"]"},
    {"Natsume Soseki won the Nobel Prize in Literature in 2006.",
     "[\"Natsume Soseki\",\"Nobel Prize in Literature\",\"2006\"]"},
    {"The Nile is the longest river in Africa.", "[\"Nile\",\"Africa\"]"},
    {"Tokyo is the capital of Japan.", "[\"Japan\"]"},
    {"He was born on February 9, 1867 in Edo and died on 9 December 1916.",
     "[\"February 9, 1867\",\"Edo\",\"9 December 1916\"]"},
    {"The meeting is on 2024-05-01 at the University of Tokyo.",
     "[\"2024-05-01\",\"University of Tokyo\"]"},
    {"About 42% of the 1.5 million people spend $5 a day, or 10 km a week.",
     "[\"42%\",\"1.5 million people\",\"$5\",\"10 km\"]"},
    {"In March 2024, Apple released the iPhone 15.", "[\"March 2024\",\"Apple\"]"},
    {"Leonardo da Vinci painted the Mona Lisa in the early 16th century.",
     "[\"Leonardo da Vinci\",\"Mona Lisa\",\"16th century\"]"},
    {"I think Python 3.12 is faster than Python 3.11.", "[\"Python 3.12\",\"Python 3.11\"]"},
    {"John F. Kennedy was elected in 1960 and visited Mt. Fuji.",
     "[\"John F. Kennedy\",\"1960\",\"Mt. Fuji\"]"},
    {"She moved to New York City on May 5th and met Barack Obama.",
     "[\"New York City\",\"May 5th\",\"Barack Obama\"]"},
    {"Einstein's theory changed physics in the 1900s.", "[\"Einstein\",\"1900s\"]"},
    {"The Tale of Genji was written by Murasaki Shikibu around 1000 AD.",
     "[\"Tale of Genji\",\"Murasaki Shikibu\",\"1000 AD\"]"},
    {"The population was 331,000,000 in 2020, but 1,000 + 2,000 = 3,000.",
     "[\"331,000,000\",\"2020\"]"},
    {"Task 2: Explain the Battle of Sekigahara in 1600.", "[\"Battle of Sekigahara\",\"1600\"]"},
    {"Use `Array.from(2024)` in JavaScript.", "[\"JavaScript\"]"},
    {"Apple Inc. was founded by Steve Jobs in Cupertino.",
     "[\"Apple Inc.\",\"Steve Jobs\",\"Cupertino\"]"},
    {"IMPORTANT NOTE: NASA and the U.S. Army use the API.", "[\"U.S. Army\"]"},
    {"The temperature dropped to -5 °C, while 8 -5 is 3.", "[\"-5 °C\"]"},
    /* a unit after a hyphen; a number of things; weekdays */
    {"Get a 50-cent discount, a 10-minute break and a 3-year-old car.",
     "[\"50-cent\",\"10-minute\",\"3-year-old\"]"},
    {"An adult human body has 306 bones.", "[\"306 bones\"]"},
    {"About 1,000 islands and the 12 apostles.", "[\"1,000 islands\",\"12 apostles\"]"},
    {"The museum is closed on Mondays and open until 8 on Friday.", "[\"Mondays\",\"Friday\"]"},
    /* nothing to check */
    {"1. First, add 3 + 5 = 8.\n2. Then write a poem.", "[]"},
    {"Write a short poem about autumn.", "[]"},
    {"Step 1: Preheat the oven.", "[]"},
    {"Version 2.0 of the app was released.", "[]"},
    {"The API returns JSON; use the CPU or GPU.", "[]"},
    {"Summarize the following text in 3 sentences.", "[]"},
    {"He speaks English and Japanese fluently.", "[]"},
    {"COVID-19 and GPT-4 are not dates; see www.example.com/2024 too.", "[]"},
    {"Here are 3 ideas. Give 5 examples. Step 2: add 12 eggs.", "[]"},
    {"Give 15 examples in 100 words. Here are 12 animals; the top 10 movies.", "[]"},
    {"Figure 12 shows 3 + 12 apples; room 101 contains the 3-D model and a 5-m pole.", "[]"},
    {"It was repeated 10 times, and 12 is more.", "[]"},
};

static void test_japanese(void **state)
{
    (void)state;
    isynth_verifier *v = new_verifier(true);
    if (!isynth_verifier_has_mecab(v)) {
        isynth_verifier_free(v);
        fail_msg("MeCab with a dictionary is needed (libmecab-dev, mecab-ipadic-utf8)");
    }
    run_cases(v, ISYNTH_LANG_JA, ja_cases, sizeof ja_cases / sizeof *ja_cases);
    isynth_verifier_free(v);
}

static void test_english(void **state)
{
    (void)state;
    isynth_verifier *v = new_verifier(true);
    run_cases(v, ISYNTH_LANG_EN, en_cases, sizeof en_cases / sizeof *en_cases);
    /* a bare year is a fact in English text only */
    expect_json(v, ISYNTH_LANG_EN, "It happened in 2006.", "[\"2006\"]");
    expect_json(v, ISYNTH_LANG_JA, "It happened in 2006.", "[]");
    isynth_verifier_free(v);
}

/* Without MeCab: numbers and dates by rule, 『』 titles and Latin names, no Japanese names and no
 * kanji numerals. */
static void test_rules_only(void **state)
{
    (void)state;
    isynth_verifier *v = new_verifier(false);
    assert_false(isynth_verifier_has_mecab(v));
    static const vcase cases[] = {
        {"夏目漱石は2006年にノーベル文学賞を受賞しました。", "[\"2006年\"]"},
        {"芥川賞を受賞した村上春樹の『ノルウェイの森』は1987年に出版された。",
         "[\"ノルウェイの森\",\"1987年\"]"},
        {"会場には三百人が集まり、平成三十一年に閉じた。", "[\"平成三十一年\"]"},
        {"Python 3.12を使う。", "[\"Python 3.12\"]"},
        {"1つ目の項目。タスク1を実行。", "[]"},
        {"8つです。水星は月曜日に見えた。", "[\"8つ\",\"月曜日\"]"},
    };
    run_cases(v, ISYNTH_LANG_JA, cases, sizeof cases / sizeof *cases);
    isynth_verifier_free(v);
}

/* Spans are exact substrings with their kinds; the array belongs to the verifier. */
static void test_spans(void **state)
{
    (void)state;
    isynth_verifier *v = new_verifier(true);
    const char *text = "夏目漱石は1867年2月9日に生まれ、42%の人が知っている。";
    const isynth_fact *f;
    size_t n;
    isynth_error err;
    assert_int_equal(isynth_verify_facts(v, S(text), ISYNTH_LANG_JA, &f, &n, &err), ISYNTH_OK);
    assert_int_equal(n, 3);
    static const char *const want[] = {"夏目漱石", "1867年2月9日", "42%"};
    static const isynth_fact_kind kinds[] = {ISYNTH_FACT_NAME, ISYNTH_FACT_DATE,
                                             ISYNTH_FACT_NUMBER};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f[i].len, strlen(want[i]));
        assert_memory_equal(text + f[i].off, want[i], f[i].len);
        assert_int_equal(f[i].kind, kinds[i]);
    }
    assert_string_equal(isynth_fact_kind_name(ISYNTH_FACT_NUMBER), "number");
    assert_string_equal(isynth_fact_kind_name(ISYNTH_FACT_DATE), "date");
    assert_string_equal(isynth_fact_kind_name(ISYNTH_FACT_NAME), "name");
    assert_string_equal(isynth_fact_kind_name((isynth_fact_kind)7), "unknown");
    /* the next call replaces the list; an empty one is NULL */
    assert_int_equal(isynth_verify_facts(v, S("特になし"), ISYNTH_LANG_JA, &f, &n, &err),
                     ISYNTH_OK);
    assert_int_equal(n, 0);
    assert_null(f);
    /* NULL text with no length is an empty text */
    assert_int_equal(isynth_verify_facts(v, NULL, 0, ISYNTH_LANG_EN, &f, &n, &err), ISYNTH_OK);
    assert_int_equal(n, 0);
    /* JSON escapes what it must */
    expect_json(v, ISYNTH_LANG_JA, "『a\"b\\c』を読んだ。", "[\"a\\\"b\\\\c\"]");
    isynth_verifier_free(v);
}

static void test_invalid(void **state)
{
    (void)state;
    isynth_verifier *v = new_verifier(true);
    const isynth_fact *f = (const isynth_fact *)1;
    size_t n = 99;
    char *js = (char *)1;
    isynth_error err;
    assert_int_equal(isynth_verify_facts(v, S("東京\xff"), ISYNTH_LANG_JA, &f, &n, &err),
                     ISYNTH_ERR_UTF8);
    assert_null(f);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, "offset 6"));
    assert_int_equal(isynth_verify_json(v, "a\0b", 3, ISYNTH_LANG_EN, &js, &err), ISYNTH_ERR_UTF8);
    assert_null(js);
    assert_int_equal(isynth_verify_facts(v, S("x"), (isynth_lang)5, &f, &n, &err),
                     ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_verify_facts(NULL, S("x"), ISYNTH_LANG_EN, &f, &n, &err),
                     ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_verify_facts(v, NULL, 3, ISYNTH_LANG_EN, &f, &n, &err),
                     ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_verify_facts(v, S("x"), ISYNTH_LANG_EN, NULL, &n, NULL),
                     ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_verify_json(v, S("x"), ISYNTH_LANG_EN, NULL, &err), ISYNTH_ERR_INVALID);
    isynth_verifier_free(v);
    isynth_verifier_free(NULL);

    isynth_verifier *bad = (isynth_verifier *)1;
    isynth_verify_params p = isynth_verify_params_default();
    p.max_bytes = 0;
    assert_int_equal(isynth_verifier_new(&p, &bad, &err), ISYNTH_ERR_INVALID);
    assert_null(bad);
    assert_non_null(strstr(err.msg, "max_bytes"));
    p.max_bytes = ISYNTH_VERIFY_MAX_BYTES_LIMIT + 1;
    assert_int_equal(isynth_verifier_new(&p, &bad, &err), ISYNTH_ERR_INVALID);
    p = isynth_verify_params_default();
    p.max_facts = 0;
    assert_int_equal(isynth_verifier_new(&p, &bad, &err), ISYNTH_ERR_INVALID);
    p.max_facts = ISYNTH_VERIFY_MAX_FACTS_LIMIT + 1;
    assert_int_equal(isynth_verifier_new(&p, &bad, &err), ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_verifier_new(NULL, NULL, &err), ISYNTH_ERR_INVALID);
}

static void test_caps(void **state)
{
    (void)state;
    isynth_verify_params p = isynth_verify_params_default();
    p.max_bytes = 7; /* 東京 and the first byte of と: cut back to 東京 */
    isynth_verifier *v;
    assert_int_equal(isynth_verifier_new(&p, &v, NULL), ISYNTH_OK);
    expect_json(v, ISYNTH_LANG_JA, "東京と大阪と京都", "[\"東京\"]");
    /* bytes past the cap are not read, valid or not */
    expect_json(v, ISYNTH_LANG_JA, "東京と\xff\xff", "[\"東京\"]");
    isynth_verifier_free(v);

    p = isynth_verify_params_default();
    p.max_facts = 2;
    assert_int_equal(isynth_verifier_new(&p, &v, NULL), ISYNTH_OK);
    expect_json(v, ISYNTH_LANG_EN, "It cost $1, $2, $3 and $4.", "[\"$1\",\"$2\"]");
    isynth_verifier_free(v);

    /* the default cap on facts, and on text length */
    v = new_verifier(true);
    char *big = malloc(ISYNTH_VERIFY_MAX_BYTES * 2);
    assert_non_null(big);
    size_t len = 0;
    for (int i = 0; len + 32 < ISYNTH_VERIFY_MAX_BYTES * 2; i++)
        len += (size_t)sprintf(big + len, "%d円と", i);
    const isynth_fact *f;
    size_t n;
    assert_int_equal(isynth_verify_facts(v, big, len, ISYNTH_LANG_JA, &f, &n, NULL), ISYNTH_OK);
    assert_int_equal(n, ISYNTH_VERIFY_MAX_FACTS);
    assert_memory_equal(big + f[63].off, "63円", f[63].len);
    /* one fact far past the cap is not seen */
    memset(big, ' ', len);
    memcpy(big + ISYNTH_VERIFY_MAX_BYTES + 10, "100円", strlen("100円"));
    assert_int_equal(isynth_verify_facts(v, big, len, ISYNTH_LANG_JA, &f, &n, NULL), ISYNTH_OK);
    assert_int_equal(n, 0);
    memcpy(big + ISYNTH_VERIFY_MAX_BYTES - 20, "100円", strlen("100円"));
    assert_int_equal(isynth_verify_facts(v, big, len, ISYNTH_LANG_JA, &f, &n, NULL), ISYNTH_OK);
    assert_int_equal(n, 1);
    free(big);

    /* a span longer than ISYNTH_VERIFY_MAX_FACT_BYTES is dropped */
    char name[1024] = "He met ";
    for (int i = 0; i < 10; i++)
        strcat(name, "Bartholomewsonaaaaaaaaaaaaaaa ");
    strcat(name, "and Kyoto.");
    expect_json(v, ISYNTH_LANG_EN, name, "[\"Kyoto\"]");
    isynth_verifier_free(v);
}

/* MeCab reads its input up to a NUL whatever length it is given (after trailing spaces, at
 * least): a text in a buffer of its exact size, without one, must not be read past (ASan
 * catches it). */
static void test_unterminated(void **state)
{
    (void)state;
    isynth_verifier *v = new_verifier(true);
    const char *src = "東京スカイツリーは2012年に開業した ";
    size_t len = strlen(src);
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, src, len);
    const isynth_fact *f;
    size_t n;
    assert_int_equal(isynth_verify_facts(v, exact, len, ISYNTH_LANG_JA, &f, &n, NULL), ISYNTH_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(exact + f[0].off, "東京スカイツリー", f[0].len);
    free(exact);
    isynth_verifier_free(v);
}

/* Random texts from pieces that touch every rule, each in an exact-size buffer: spans stay
 * inside the text, in order, without overlaps or duplicates, in both languages, with and
 * without MeCab, and with a cap that cuts pieces in half. */
static void test_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "東京",       "夏目",   "漱石",     "2006",  "年",       "月",
        "日",         "、",     "。",       "『",    "』",       "・",
        "ビル",       "ゲイツ", "三",       "百",    "人",       "約",
        "$",          "-",      "〜",       "1",     ",",        "000",
        ".",          "5",      " ",        "Mount", "Fuji",     "of",
        "the",        "in",     "Prize",    "Mr",    ". ",       "\n",
        "`",          "```",    "http://x", "km",    "%",        "分の",
        "の",         "目",     "明治",     "元",    "February", "9th",
        "century",    "'s",     "I",        "U",     "S",        "BC",
        "2024-05-01", "世紀",   "ノーベル", "文学",  "賞",       "中国",
        "語",         "十",     "億",       "Tokyo", "Jr.",      "e.g.",
        ":",          "(",      "\xc3\xa9", "日米",  "ロンドン", "ダ・ヴィンチ",
        "つ",         "です",   "は",       "代",    "第",       "曜日",
        "応仁",       "の乱",   "-cent",    "bones", "Here are", "八"};
    isynth_verify_params p = isynth_verify_params_default();
    p.max_bytes = 200;
    isynth_verifier *vs[2];
    assert_int_equal(isynth_verifier_new(NULL, &vs[0], NULL), ISYNTH_OK);
    assert_int_equal(isynth_verifier_new(&p, &vs[1], NULL), ISYNTH_OK);
    uint32_t seed = 12345;
    char text[2048];
    for (int it = 0; it < 3000; it++) {
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        for (uint32_t k = (seed >> 16) % 40; k > 0; k--) {
            seed = seed * 1103515245u + 12345u;
            const char *pc = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            memcpy(text + len, pc, strlen(pc));
            len += strlen(pc);
        }
        char *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, text, len);
        for (int k = 0; k < 4; k++) {
            const isynth_fact *f;
            size_t n;
            assert_int_equal(
                isynth_verify_facts(vs[k / 2], exact, len, (isynth_lang)(k % 2), &f, &n, NULL),
                ISYNTH_OK);
            for (size_t i = 0; i < n; i++) {
                assert_true(f[i].len > 0 && f[i].off + f[i].len <= len);
                if (i) assert_true(f[i].off >= f[i - 1].off + f[i - 1].len);
                for (size_t j = 0; j < i; j++)
                    assert_false(f[j].len == f[i].len &&
                                 !memcmp(exact + f[j].off, exact + f[i].off, f[i].len));
            }
        }
        free(exact);
    }
    isynth_verifier_free(vs[0]);
    isynth_verifier_free(vs[1]);
}

/* Every allocation of a verifier and of a call fails in turn: an error comes back, nothing
 * leaks, and the verifier still works afterwards. The text is `piece` 40 times over. */
static void alloc_walk(const char *piece, const char *expect)
{
    char text[8192] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, piece);
    isynth_verifier *ref = new_verifier(true);
    char *want;
    assert_int_equal(isynth_verify_json(ref, S(text), ISYNTH_LANG_JA, &want, NULL), ISYNTH_OK);
    assert_string_equal(want, expect);
    isynth_verifier_free(ref);
    bool done = false;
    for (long k = 1; k < 1000 && !done; k++) {
        isynth_verifier *v = NULL;
        char *js = NULL;
        isynth_error err;
        isynth_alloc_fail_at(k, false);
        isynth_err rc = isynth_verifier_new(NULL, &v, &err);
        if (!rc) rc = isynth_verify_json(v, S(text), ISYNTH_LANG_JA, &js, &err);
        long used = isynth_alloc_fail_at(0, false);
        if (rc) {
            assert_int_equal(rc, ISYNTH_ERR_NOMEM);
            assert_null(js);
            if (v) {
                /* the verifier survives a failed call */
                assert_int_equal(isynth_verify_json(v, S(text), ISYNTH_LANG_JA, &js, &err),
                                 ISYNTH_OK);
                assert_string_equal(js, want);
                isynth_free(js);
            }
        } else {
            assert_string_equal(js, want);
            isynth_free(js);
            done = used < k;
        }
        isynth_verifier_free(v);
    }
    assert_true(done);
    isynth_free(want);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    alloc_walk("夏目漱石は1867年2月9日に生まれ、42%が東京都に住む。",
               "[\"夏目漱石\",\"1867年2月9日\",\"42%\",\"東京都\"]");
    /* the candidates outgrow their array while the events are pushed */
    alloc_walk("大政奉還と応仁の乱、", "[\"大政奉還\",\"応仁の乱\"]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_japanese),       cmocka_unit_test(test_english),
        cmocka_unit_test(test_rules_only),     cmocka_unit_test(test_spans),
        cmocka_unit_test(test_invalid),        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_unterminated),   cmocka_unit_test(test_random),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
