/* Seed loader tests: every recognised shape, encodings and line endings, the column map,
 * language detection, a corpus of broken files (tests/data/seeds/bad) that must each fail
 * with the right code and a message naming file, line and field, workbooks made at run time
 * (the same tasks as CSV, broken and hostile ones), and an allocation-failure walk over whole
 * loads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"
#include "isynth/seeds.h"
#include "isynth/review.h"
#include "isynth/store.h"
#include "isynth/table.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GOOD ISYNTH_TEST_DATA "/seeds/good/"
#define BAD ISYNTH_TEST_DATA "/seeds/bad/"

static isynth_seedset *load_ok(const char *path, const char *map)
{
    isynth_seeds_params p = isynth_seeds_params_default();
    p.map = map;
    isynth_seedset *s = NULL;
    isynth_error e;
    isynth_err rc = isynth_seeds_load(path, &p, &s, &e);
    if (rc) print_error("%s: %s\n", path, e.msg);
    assert_int_equal(rc, ISYNTH_OK);
    assert_non_null(s);
    assert_string_equal(s->path, path);
    return s;
}

/* Asserts a failed load: code, *out == NULL, and a message holding "<file>:<line>:" (when line
 * > 0), the file name otherwise, and each given fragment. */
static void expect_fail_p(const char *path, const isynth_seeds_params *p, isynth_err code,
                          long line, const char *frag1, const char *frag2)
{
    isynth_seedset *s = (isynth_seedset *)&s; /* poison: must be reset to NULL */
    isynth_error e;
    isynth_err rc = isynth_seeds_load(path, p, &s, &e);
    print_message("%s -> %s\n", path, e.msg);
    assert_int_equal(rc, code);
    assert_int_equal(e.code, code);
    assert_null(s);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char where[512];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%ld:", base, line);
    else
        snprintf(where, sizeof where, "%s", base);
    assert_non_null(strstr(e.msg, where));
    if (frag1) assert_non_null(strstr(e.msg, frag1));
    if (frag2) assert_non_null(strstr(e.msg, frag2));
}

static void expect_fail(const char *path, const char *map, isynth_err code, long line,
                        const char *frag1, const char *frag2)
{
    isynth_seeds_params p = isynth_seeds_params_default();
    p.map = map;
    expect_fail_p(path, &p, code, line, frag1, frag2);
}

/* ---- good files, one per shape ----------------------------------------------------------- */

static void test_params_default(void **state)
{
    (void)state;
    isynth_seeds_params p = isynth_seeds_params_default();
    assert_int_equal(p.format, ISYNTH_SEEDS_AUTO);
    assert_null(p.map);
    assert_int_equal(p.max_file_bytes, 64u << 20);
    assert_int_equal(p.max_field_bytes, 256u << 10);
    assert_int_equal(p.max_tasks, 100000);
}

static void test_elyza_jsonl(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "elyza.jsonl", NULL);
    assert_int_equal(s->n, 3);
    assert_string_equal(s->shape, "elyza");
    assert_int_equal(s->lang, ISYNTH_LANG_JA);
    assert_string_equal(s->sha256,
                        "850de5e87e28aae69c9438bfadbdf43fbae109d4b5a38b9295b15679cc9cb036");
    assert_string_equal(s->tasks[0].instruction, "次の文を敬語に直してください。「明日行くよ」");
    assert_string_equal(s->tasks[0].input, "");
    assert_string_equal(s->tasks[0].output, "明日伺います。");
    assert_string_equal(s->tasks[0].eval_aspect, "- 謙譲語を使っていれば満点");
    assert_string_equal(s->tasks[0].id, "seed-1");
    assert_int_equal(s->tasks[0].line, 1);
    assert_false(s->tasks[0].is_classification);
    /* the blank line 3 is skipped, and lines keep counting */
    assert_string_equal(s->tasks[2].id, "seed-4");
    assert_int_equal(s->tasks[2].line, 4);
    assert_string_equal(s->tasks[2].output, "にんじん");
    assert_string_equal(s->tasks[2].eval_aspect, "");
    isynth_seeds_free(s);
}

static void test_self_instruct(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "self_instruct.jsonl", NULL);
    assert_int_equal(s->n, 3);
    assert_string_equal(s->shape, "self-instruct");
    assert_int_equal(s->lang, ISYNTH_LANG_EN);
    assert_string_equal(s->tasks[0].id, "seed_task_0");
    assert_string_equal(s->tasks[0].instruction, "Give the antonym of the word.");
    /* the first instance is taken */
    assert_string_equal(s->tasks[0].input, "hot");
    assert_string_equal(s->tasks[0].output, "cold");
    assert_false(s->tasks[0].is_classification);
    assert_true(s->tasks[1].is_classification);
    assert_string_equal(s->tasks[1].output, "Positive");
    assert_string_equal(s->tasks[2].input, "");
    assert_string_equal(s->tasks[2].output,
                        "Red leaves drift and fall\nthe river carries them south\nquiet evening "
                        "light");
    isynth_seeds_free(s);
}

static void test_alpaca_json_array(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "alpaca.json", NULL);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->shape, "alpaca");
    assert_string_equal(s->tasks[0].instruction, "Translate to French.");
    assert_string_equal(s->tasks[0].input, "Good morning");
    assert_string_equal(s->tasks[0].output, "Bonjour");
    /* each array element keeps the line it starts on */
    assert_int_equal(s->tasks[0].line, 2);
    assert_string_equal(s->tasks[0].id, "seed-2");
    assert_int_equal(s->tasks[1].line, 7);
    assert_string_equal(s->tasks[1].id, "7"); /* an integer id is printed */
    isynth_seeds_free(s);
}

static void test_messages(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "messages.jsonl", NULL);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->shape, "messages");
    assert_int_equal(s->lang, ISYNTH_LANG_JA);
    assert_string_equal(s->tasks[0].instruction, "2たす3は？");
    assert_string_equal(s->tasks[0].output, "5です。");
    assert_string_equal(s->tasks[0].input, "");
    /* first user turn and first assistant turn */
    assert_string_equal(s->tasks[1].id, "m2");
    assert_string_equal(s->tasks[1].instruction, "「ありがとう」を英語で言うと？");
    assert_string_equal(s->tasks[1].output, "Thank you.");
    isynth_seeds_free(s);
}

static void test_crlf_jsonl(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "crlf.jsonl", NULL);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->tasks[0].output, "4");
    assert_string_equal(s->tasks[1].output, "tac");
    assert_int_equal(s->tasks[1].line, 3);
    isynth_seeds_free(s);
}

static void test_csv_bom_crlf(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "elyza_bom_crlf.csv", NULL);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->shape, "elyza");
    assert_int_equal(s->lang, ISYNTH_LANG_JA);
    /* the BOM is not part of the first column name nor of any value */
    assert_string_equal(s->tasks[0].instruction, "次の文を要約してください。");
    assert_string_equal(s->tasks[0].output, "一行目\r\n二行目"); /* kept verbatim */
    assert_string_equal(s->tasks[0].eval_aspect, "- 短いこと");
    assert_string_equal(s->tasks[0].id, "seed-2");
    assert_string_equal(s->tasks[1].instruction, "「猫」の読み方は？");
    assert_int_equal(s->tasks[1].line, 4);
    assert_string_equal(s->tasks[1].eval_aspect, "");
    /* the hash covers the file's bytes, BOM included */
    char *data;
    size_t len;
    assert_int_equal(read_file_limited(GOOD "elyza_bom_crlf.csv", 1 << 20, &data, &len, NULL),
                     ISYNTH_OK);
    char hex[65];
    sha256_hex(data, len, hex);
    assert_string_equal(s->sha256, hex);
    isynth_free(data);
    isynth_seeds_free(s);
}

static void test_csv_multiline(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "multiline.csv", NULL);
    assert_int_equal(s->n, 2); /* the ",,," row is skipped */
    assert_string_equal(s->shape, "alpaca");
    assert_string_equal(s->tasks[0].id, "a1");
    assert_string_equal(s->tasks[0].instruction, "Split the sentence\ninto words.");
    assert_string_equal(s->tasks[0].input, "The \"quick\" fox");
    assert_string_equal(s->tasks[0].output, "The\nquick\nfox");
    assert_int_equal(s->tasks[0].line, 2);
    assert_string_equal(s->tasks[1].id, "a2");
    assert_int_equal(s->tasks[1].line, 7);
    assert_string_equal(s->tasks[1].input, "");
    assert_string_equal(s->tasks[1].output, "Hi, there");
    isynth_seeds_free(s);
}

static void test_csv_header_case_and_bool(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "elyza.csv", NULL);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->shape, "elyza");
    assert_string_equal(s->tasks[0].instruction, "五十音の最初の文字は？");
    assert_string_equal(s->tasks[0].output, "あ");
    assert_true(s->tasks[0].is_classification);
    isynth_seeds_free(s);
}

static void test_map_csv(void **state)
{
    (void)state;
    isynth_seedset *s =
        load_ok(GOOD "mapped.csv", " instruction = question, output=answer,input=context,id=qid");
    assert_int_equal(s->n, 2);
    assert_string_equal(s->shape, "mapped");
    assert_string_equal(s->tasks[0].id, "q1");
    assert_string_equal(s->tasks[0].instruction, "東京は何の首都ですか。");
    assert_string_equal(s->tasks[0].output, "日本の首都です。");
    assert_string_equal(s->tasks[1].input, "3 or 5");
    assert_string_equal(s->tasks[1].output, "5");
    isynth_seeds_free(s);
    /* without the map the file has no known shape */
    expect_fail(GOOD "mapped.csv", NULL, ISYNTH_ERR_PARSE, 1, "field 'instruction'", "question");
    /* a mapped column must exist */
    expect_fail(GOOD "mapped.csv", "instruction=question,output=nope", ISYNTH_ERR_PARSE, 1,
                "field 'nope'", "no such column");
}

static void test_map_jsonl(void **state)
{
    (void)state;
    isynth_seedset *s = load_ok(GOOD "mapped.jsonl", "instruction=q,output=a,input=ctx");
    assert_int_equal(s->n, 1);
    assert_string_equal(s->shape, "mapped");
    assert_string_equal(s->tasks[0].instruction, "Repeat the word.");
    assert_string_equal(s->tasks[0].input, "echo");
    assert_string_equal(s->tasks[0].output, "echo"); /* the map wins over an "output" key */
    assert_string_equal(s->tasks[0].id, "seed-1");
    isynth_seeds_free(s);
    expect_fail(GOOD "mapped.jsonl", "instruction=q,output=zz", ISYNTH_ERR_PARSE, 1, "field 'zz'",
                "missing");
}

static void test_map_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"instruction", "foo=bar", "instruction=", "output=a,output=b", ",,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        isynth_seeds_params p = isynth_seeds_params_default();
        p.map = bad[i];
        isynth_seedset *s = NULL;
        isynth_error e;
        assert_int_equal(isynth_seeds_load(GOOD "mapped.csv", &p, &s, &e), ISYNTH_ERR_INVALID);
        assert_null(s);
        assert_non_null(strstr(e.msg, "seed map"));
    }
}

static void test_format_param_overrides_extension(void **state)
{
    (void)state;
    /* a JSONL file read as CSV fails on its first line */
    isynth_seeds_params p = isynth_seeds_params_default();
    p.format = ISYNTH_SEEDS_CSV;
    expect_fail_p(GOOD "elyza.jsonl", &p, ISYNTH_ERR_PARSE, 1, NULL, NULL);
    p.format = ISYNTH_SEEDS_JSONL;
    p.map = "instruction=question,output=answer";
    expect_fail_p(GOOD "mapped.csv", &p, ISYNTH_ERR_PARSE, 1, "malformed JSON", NULL);
}

/* ---- language ---------------------------------------------------------------------------- */

static void test_detect_lang(void **state)
{
    (void)state;
    assert_string_equal(isynth_lang_name(ISYNTH_LANG_JA), "ja");
    assert_string_equal(isynth_lang_name(ISYNTH_LANG_EN), "en");
    const char *ja[] = {"日本語の文です。", "カタカナとひらがな"};
    assert_int_equal(isynth_lang_detect(ja, 2), ISYNTH_LANG_JA);
    const char *en[] = {"An English sentence.", NULL, "1234 !!"};
    assert_int_equal(isynth_lang_detect(en, 3), ISYNTH_LANG_EN);
    assert_int_equal(isynth_lang_detect(NULL, 0), ISYNTH_LANG_EN);
    const char *none[] = {"1234 。、！", ""};
    assert_int_equal(isynth_lang_detect(none, 2), ISYNTH_LANG_EN);
    /* threshold: 3 Japanese of 10 letters is ja, 3 of 11 is en */
    const char *edge_ja[] = {"abcdefg", "あいう"};
    assert_int_equal(isynth_lang_detect(edge_ja, 2), ISYNTH_LANG_JA);
    const char *edge_en[] = {"abcdefgh あいう"};
    assert_int_equal(isynth_lang_detect(edge_en, 1), ISYNTH_LANG_EN);
    /* halfwidth katakana and CJK extension B count as Japanese; fullwidth digits do not */
    const char *half[] = {"ｶﾀｶﾅ ab", "\xF0\xA0\x80\x8B １２３"};
    assert_int_equal(isynth_lang_detect(half, 2), ISYNTH_LANG_JA);
    /* a typical Japanese prompt about code stays ja */
    const char *mixed[] = {"Pythonでリストを並べ替える方法を教えてください。"};
    assert_int_equal(isynth_lang_detect(mixed, 1), ISYNTH_LANG_JA);
}

static void test_task_clear(void **state)
{
    (void)state;
    isynth_task_clear(NULL);
    isynth_task t = {.id = isynth_strdup("x"),
                     .instruction = isynth_strdup("i"),
                     .input = isynth_strdup(""),
                     .output = isynth_strdup("o"),
                     .eval_aspect = isynth_strdup(""),
                     .is_classification = true,
                     .line = 3};
    isynth_task_clear(&t);
    assert_null(t.id);
    assert_null(t.instruction);
    assert_null(t.output);
    assert_false(t.is_classification);
    isynth_task_clear(&t); /* twice is fine */
    isynth_seeds_free(NULL);
}

/* ---- broken files ------------------------------------------------------------------------ */

typedef struct bad_case {
    const char *file;
    isynth_err code;
    long line; /* 0: the message names the file only */
    const char *frag1, *frag2;
} bad_case;

static void test_bad_corpus(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"empty.jsonl", ISYNTH_ERR_PARSE, 1, "empty file", NULL},
        {"bom_only.csv", ISYNTH_ERR_PARSE, 1, "empty file", NULL},
        {"invalid_utf8.jsonl", ISYNTH_ERR_UTF8, 2, "invalid UTF-8", "0xFF"},
        {"invalid_utf8.csv", ISYNTH_ERR_UTF8, 3, "field 'output'", "invalid UTF-8"},
        {"truncated.jsonl", ISYNTH_ERR_PARSE, 2, "truncated JSON", NULL},
        {"missing_column.csv", ISYNTH_ERR_PARSE, 1, "field 'output'", "no such column"},
        {"missing_output.jsonl", ISYNTH_ERR_PARSE, 2, "field 'output'", "missing"},
        {"unbalanced_quote.csv", ISYNTH_ERR_PARSE, 3, "field 'output'",
         "unterminated quoted field"},
        {"stray_quote.csv", ISYNTH_ERR_PARSE, 2, "field 'output'", "malformed quoted field"},
        {"nul_byte.jsonl", ISYNTH_ERR_PARSE, 3, "NUL byte", NULL},
        {"nul_byte.csv", ISYNTH_ERR_PARSE, 2, "field 'output'", "NUL byte"},
        {"non_object.jsonl", ISYNTH_ERR_PARSE, 2, "expected a JSON object", "an array"},
        {"scalar.jsonl", ISYNTH_ERR_PARSE, 1, "expected a JSON object", "a string"},
        {"wrong_type.jsonl", ISYNTH_ERR_PARSE, 1, "field 'output'", "found a number"},
        {"field_count.csv", ISYNTH_ERR_PARSE, 3, "3 fields", "header has 2"},
        {"dup_id.jsonl", ISYNTH_ERR_PARSE, 3, "field 'id'", "duplicate id 'x' (also at line 1)"},
        {"unknown_shape.jsonl", ISYNTH_ERR_PARSE, 1, "field 'instruction'", "column map"},
        {"empty_instances.jsonl", ISYNTH_ERR_PARSE, 1, "field 'instances'", "empty array"},
        {"no_assistant.jsonl", ISYNTH_ERR_PARSE, 1, "field 'messages'", "no assistant turn"},
        {"array_not_closed.json", ISYNTH_ERR_PARSE, 1, "never closed", NULL},
        {"header_only.csv", ISYNTH_ERR_PARSE, 0, "no tasks", NULL},
        {"blank_instruction.jsonl", ISYNTH_ERR_PARSE, 1, "field 'instruction'", "empty"},
        {"dup_key.jsonl", ISYNTH_ERR_PARSE, 1, "duplicate key", NULL},
        {"bad_classification.jsonl", ISYNTH_ERR_PARSE, 1, "field 'is_classification'",
         "true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s%s", BAD, cases[i].file);
        expect_fail(path, NULL, cases[i].code, cases[i].line, cases[i].frag1, cases[i].frag2);
    }
}

static void test_unopenable_and_unknown_format(void **state)
{
    (void)state;
    expect_fail(BAD "does_not_exist.jsonl", NULL, ISYNTH_ERR_IO, 0, "cannot open", NULL);
    expect_fail(BAD "seeds.xlsx", NULL, ISYNTH_ERR_IO, 0, "cannot open", NULL);
    expect_fail(BAD "seeds.txt", NULL, ISYNTH_ERR_INVALID, 0, "format", NULL);
    isynth_error e;
    assert_int_equal(isynth_seeds_load(NULL, NULL, NULL, &e), ISYNTH_ERR_INVALID);
}

static void test_limits(void **state)
{
    (void)state;
    isynth_seeds_params p = isynth_seeds_params_default();
    p.max_file_bytes = 100;
    expect_fail_p(GOOD "elyza.jsonl", &p, ISYNTH_ERR_TOO_LARGE, 0, "limit", NULL);
    p = isynth_seeds_params_default();
    p.max_tasks = 2;
    expect_fail_p(GOOD "elyza.jsonl", &p, ISYNTH_ERR_TOO_LARGE, 4, "more than 2 tasks", NULL);
    p = isynth_seeds_params_default();
    p.max_field_bytes = 12; /* header cells fit, the first row's instruction does not */
    expect_fail_p(GOOD "multiline.csv", &p, ISYNTH_ERR_TOO_LARGE, 2, "field 'instruction'",
                  "30 bytes, longer than the limit of 12 bytes");
}

/* A seed CSV wider than a sheet is refused at its header, before its names are copied. */
static void test_wide_seed_header(void **state)
{
    (void)state;
    char dir[64] = "/tmp/isynth-wide-XXXXXX", p[128];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/wide.csv", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 20000; i++)
        fprintf(f, "%sc%d", i ? "," : "", i);
    fprintf(f, "\n1\n");
    fclose(f);
    isynth_seedset *s = NULL;
    isynth_error e = {0};
    assert_int_equal(isynth_seeds_load(p, NULL, &s, &e), ISYNTH_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "more than 16384 columns"));
    assert_int_equal(remove(p), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Seeds read through the shared table and JSONL readers: a CSV saved by a spreadsheet (empty
 * header cells after the last column, rows cut short where their last cells are empty) loads as
 * `convert` reads it (the seed loader's own CSV parser refused the short rows); a record whose
 * quoted field spans lines keeps the line it starts on, and a bad byte inside it is named on its
 * own line; a .JSON file of JSON lines and a CRLF JSONL file with a BOM load by the one
 * extension mapping. */
static void test_shared_readers(void **state)
{
    (void)state;
    char d[64] = "/tmp/isynth-shared-XXXXXX", p[128];
    assert_non_null(mkdtemp(d));
    snprintf(p, sizeof p, "%s/sheet.csv", d);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("instruction,output,eval_aspect,,\r\n"
          "q1,a1,aspect,,\r\n"
          "q2,a2\r\n"
          "\"q3\nsecond line\",a3,\r\n",
          f);
    fclose(f);
    isynth_seedset *s = load_ok(p, NULL);
    assert_int_equal(s->n, 3);
    assert_string_equal(s->tasks[0].eval_aspect, "aspect");
    assert_string_equal(s->tasks[1].output, "a2");
    assert_string_equal(s->tasks[1].eval_aspect, "");
    assert_string_equal(s->tasks[2].instruction, "q3\nsecond line");
    assert_int_equal(s->tasks[2].line, 4);
    isynth_seeds_free(s);

    f = fopen(p, "wb");
    assert_non_null(f);
    fputs("instruction,output\nq1,a1\n\"q2\nbad \xff here\",a2\n", f);
    fclose(f);
    expect_fail(p, NULL, ISYNTH_ERR_UTF8, 4, "field 'instruction'", "invalid UTF-8 (byte 0xFF)");
    assert_int_equal(remove(p), 0);

    snprintf(p, sizeof p, "%s/lines.JSON", d);
    f = fopen(p, "wb");
    assert_non_null(f);
    fputs("\xEF\xBB\xBF{\"instruction\": \"i1\", \"output\": \"o1\"}\r\n"
          "\r\n"
          "{\"instruction\": \"i2\", \"output\": \"o2\"}\r\n",
          f);
    fclose(f);
    s = load_ok(p, NULL);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->shape, "alpaca");
    assert_string_equal(s->tasks[1].output, "o2");
    assert_int_equal(s->tasks[1].line, 3);
    isynth_seeds_free(s);
    assert_int_equal(remove(p), 0);
    assert_int_equal(rmdir(d), 0);
}

/* A 1 MiB field, generated into a temporary directory, passes the default limit of 256 KiB. */
static void test_huge_field(void **state)
{
    (void)state;
    char dir[] = "/tmp/isynth-seeds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char jpath[512], cpath[512];
    snprintf(jpath, sizeof jpath, "%s/huge.jsonl", dir);
    snprintf(cpath, sizeof cpath, "%s/huge.csv", dir);
    size_t big = (size_t)1 << 20;
    char *fill = malloc(big);
    assert_non_null(fill);
    memset(fill, 'a', big);

    FILE *f = fopen(jpath, "wb");
    assert_non_null(f);
    fprintf(f, "{\"input\": \"short\", \"output\": \"fine\"}\n");
    fprintf(f, "{\"input\": \"long\", \"output\": \"");
    fwrite(fill, 1, big, f);
    fprintf(f, "\"}\n");
    assert_int_equal(fclose(f), 0);

    f = fopen(cpath, "wb");
    assert_non_null(f);
    fprintf(f, "instruction,output\nq,a\nq2,\"");
    fwrite(fill, 1, big, f);
    fprintf(f, "\"\n");
    assert_int_equal(fclose(f), 0);
    free(fill);

    expect_fail(jpath, NULL, ISYNTH_ERR_TOO_LARGE, 2, "field 'output'", "1048576 bytes");
    expect_fail(cpath, NULL, ISYNTH_ERR_TOO_LARGE, 3, "field 'output'", "1048576 bytes");

    /* a caller may raise the limit */
    isynth_seeds_params p = isynth_seeds_params_default();
    p.max_field_bytes = (size_t)2 << 20;
    isynth_seedset *s = NULL;
    isynth_error e;
    assert_int_equal(isynth_seeds_load(jpath, &p, &s, &e), ISYNTH_OK);
    assert_int_equal(strlen(s->tasks[1].output), big);
    isynth_seeds_free(s);

    assert_int_equal(remove(jpath), 0);
    assert_int_equal(remove(cpath), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- XLSX -------------------------------------------------------------------------------- */

/* A temporary directory for workbooks made at run time; every file in it is removed at the
 * end. */
typedef struct tmpdir {
    char dir[64];
    char paths[16][512];
    size_t n;
} tmpdir;

static void tmp_open(tmpdir *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/isynth-seedsx-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

static const char *tmp_path(tmpdir *t, const char *name)
{
    assert_true(t->n < 16);
    char path[sizeof t->paths[0]];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    memcpy(t->paths[t->n], path, sizeof path);
    return t->paths[t->n++];
}

static void tmp_close(tmpdir *t)
{
    for (size_t i = 0; i < t->n; i++)
        remove(t->paths[i]);
    assert_int_equal(rmdir(t->dir), 0);
}

/* Writes a table (format by extension) of ncols columns: the header, then nrows rows. */
static void write_table(const char *path, const char *const *names, size_t ncols,
                        const char *const *cells, size_t nrows)
{
    isynth_table_writer *w = NULL;
    isynth_error e;
    isynth_err rc = isynth_table_writer_open(path, names, ncols, NULL, &w, &e);
    if (rc) print_error("%s: %s\n", path, e.msg);
    assert_int_equal(rc, ISYNTH_OK);
    for (size_t r = 0; r < nrows; r++) {
        rc = isynth_table_write_row(w, cells + r * ncols, NULL, &e);
        if (rc) print_error("%s: %s\n", path, e.msg);
        assert_int_equal(rc, ISYNTH_OK);
    }
    assert_int_equal(isynth_table_writer_close(w, &e), ISYNTH_OK);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void assert_same_tasks(const isynth_seedset *a, const isynth_seedset *b, bool ids)
{
    assert_int_equal(a->n, b->n);
    assert_string_equal(a->shape, b->shape);
    assert_int_equal(a->lang, b->lang);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->tasks[i].instruction, b->tasks[i].instruction);
        assert_string_equal(a->tasks[i].input, b->tasks[i].input);
        assert_string_equal(a->tasks[i].output, b->tasks[i].output);
        assert_string_equal(a->tasks[i].eval_aspect, b->tasks[i].eval_aspect);
        assert_int_equal(a->tasks[i].is_classification, b->tasks[i].is_classification);
        if (ids) {
            assert_string_equal(a->tasks[i].id, b->tasks[i].id);
            assert_int_equal(a->tasks[i].line, b->tasks[i].line);
        }
    }
}

static const char *const elyza_cols[] = {"Input", "output", "eval_aspect", "is_classification"};
static const char *const elyza_rows[] = {
    "次の文を敬語に直してください。「明日行くよ」",
    "明日伺います。",
    "- 謙譲語なら満点",
    "",
    "",
    "",
    "",
    "", /* an empty row: skipped, numbering goes on */
    "「猫」の読み方は？",
    "ねこ",
    "",
    "yes",
    "三つの果物を挙げてください。",
    "りんご\nみかん\nぶどう",
    "- 三つあること",
    "false",
};

/* An ELYZA-shaped workbook and the same rows as CSV load as the same tasks. */
static void test_xlsx_elyza(void **state)
{
    (void)state;
    tmpdir t;
    tmp_open(&t);
    const char *x = tmp_path(&t, "elyza.xlsx"), *c = tmp_path(&t, "elyza.csv");
    write_table(x, elyza_cols, 4, elyza_rows, 4);
    write_table(c, elyza_cols, 4, elyza_rows, 3); /* CSV: the multi-line row would shift lines */
    isynth_seedset *sx = load_ok(x, NULL), *sc = load_ok(c, NULL);
    assert_int_equal(sx->n, 3);
    assert_string_equal(sx->shape, "elyza");
    assert_int_equal(sx->lang, ISYNTH_LANG_JA);
    assert_string_equal(sx->tasks[0].id, "seed-2");
    assert_string_equal(sx->tasks[0].instruction, "次の文を敬語に直してください。「明日行くよ」");
    assert_string_equal(sx->tasks[0].input, "");
    assert_string_equal(sx->tasks[0].eval_aspect, "- 謙譲語なら満点");
    assert_false(sx->tasks[0].is_classification);
    assert_string_equal(sx->tasks[1].id, "seed-4"); /* sheet row 4, after the empty row 3 */
    assert_int_equal(sx->tasks[1].line, 4);
    assert_true(sx->tasks[1].is_classification);
    assert_string_equal(sx->tasks[2].output, "りんご\nみかん\nぶどう");
    /* the hash is of the workbook's bytes */
    char *data;
    size_t len;
    assert_int_equal(read_file_limited(x, 1 << 20, &data, &len, NULL), ISYNTH_OK);
    char hex[65];
    sha256_hex(data, len, hex);
    assert_string_equal(sx->sha256, hex);
    isynth_free(data);
    /* the CSV holds the first three sheet rows; their tasks match, ids and lines included */
    isynth_seedset head = *sx;
    head.n = 2;
    assert_same_tasks(&head, sc, true);
    isynth_seeds_free(sc);
    isynth_seeds_free(sx);

    /* the project's sample seeds, rewritten as a workbook, load as the CSV does */
    isynth_seedset *csv = load_ok(ISYNTH_SOURCE_DIR "/data/seeds_ja.csv", NULL);
    const char *sample = tmp_path(&t, "seeds_ja.xlsx");
    const char *const cols[] = {"input", "output", "eval_aspect"};
    const char **cells = calloc(csv->n * 3, sizeof *cells);
    assert_non_null(cells);
    for (size_t i = 0; i < csv->n; i++) {
        cells[i * 3] = csv->tasks[i].instruction;
        cells[i * 3 + 1] = csv->tasks[i].output;
        cells[i * 3 + 2] = csv->tasks[i].eval_aspect;
    }
    write_table(sample, cols, 3, cells, csv->n);
    free(cells);
    isynth_seedset *xs = load_ok(sample, NULL);
    assert_same_tasks(xs, csv, false);
    isynth_seeds_free(xs);
    isynth_seeds_free(csv);
    tmp_close(&t);
}

static void test_xlsx_alpaca_and_map(void **state)
{
    (void)state;
    tmpdir t;
    tmp_open(&t);
    const char *a = tmp_path(&t, "alpaca.xlsx"), *m = tmp_path(&t, "mapped.XLSX");
    const char *const acols[] = {"id", "instruction", "input", "output"};
    const char *const arows[] = {
        "a1", "Translate to French.", "Good morning", "Bonjour", "a2", "Say hi.", "", "Hi"};
    write_table(a, acols, 4, arows, 2);
    isynth_seedset *s = load_ok(a, NULL);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->shape, "alpaca");
    assert_int_equal(s->lang, ISYNTH_LANG_EN);
    assert_string_equal(s->tasks[0].id, "a1");
    assert_string_equal(s->tasks[0].input, "Good morning");
    assert_string_equal(s->tasks[1].output, "Hi");
    isynth_seeds_free(s);

    const char *const mcols[] = {"qid", "question", "answer"};
    const char *const mrows[] = {"q1", "東京は何の首都ですか。", "日本の首都です。"};
    write_table(m, mcols, 3, mrows, 1);
    s = load_ok(m, "instruction=question,output=answer,id=qid");
    assert_int_equal(s->n, 1);
    assert_string_equal(s->shape, "mapped");
    assert_string_equal(s->tasks[0].id, "q1");
    assert_string_equal(s->tasks[0].output, "日本の首都です。");
    isynth_seeds_free(s);
    expect_fail(m, NULL, ISYNTH_ERR_PARSE, 1, "field 'instruction'", "question");
    expect_fail(m, "instruction=question,output=nope", ISYNTH_ERR_PARSE, 1, "field 'nope'",
                "no such column");
    tmp_close(&t);
}

/* Broken workbooks: each names the file and, for a bad row, the sheet row and the column. */
static void test_xlsx_bad(void **state)
{
    (void)state;
    tmpdir t;
    tmp_open(&t);

    const char *p = tmp_path(&t, "no_output.xlsx");
    const char *const c1[] = {"input", "eval_aspect"};
    const char *const r1[] = {"質問", "観点"};
    write_table(p, c1, 2, r1, 1);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 1, "field 'output'", "no such column");

    p = tmp_path(&t, "empty_output.xlsx");
    const char *const c2[] = {"input", "output"};
    const char *const r2[] = {"q1", "a1", "", "", "q3", " \xE3\x80\x80"};
    write_table(p, c2, 2, r2, 3);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 4, "field 'output'", "empty (output is required)");

    p = tmp_path(&t, "header_only.xlsx");
    write_table(p, c2, 2, NULL, 0);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 0, "no tasks", NULL);

    p = tmp_path(&t, "dup_id.xlsx");
    const char *const c3[] = {"id", "input", "output"};
    const char *const r3[] = {"x", "q1", "a1", "y", "q2", "a2", "x", "q3", "a3"};
    write_table(p, c3, 3, r3, 3);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 4, "field 'id'", "duplicate id 'x' (also at row 2)");

    p = tmp_path(&t, "bad_bool.xlsx");
    const char *const c4[] = {"input", "output", "is_classification"};
    const char *const r4[] = {"q1", "a1", "maybe"};
    write_table(p, c4, 3, r4, 1);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 2, "field 'is_classification'", "true or false");

    p = tmp_path(&t, "dup_column.xlsx");
    const char *const c5[] = {"input", "output", "Output"};
    const char *const r5[] = {"q1", "a1", "a2"};
    write_table(p, c5, 3, r5, 1);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 1, "field 'Output'", "duplicate column");

    /* a cell over max_field_bytes, and more rows than max_tasks */
    p = tmp_path(&t, "long.xlsx");
    write_table(p, c2, 2, r2, 1);
    isynth_seeds_params prm = isynth_seeds_params_default();
    prm.max_field_bytes = 1;
    expect_fail_p(p, &prm, ISYNTH_ERR_TOO_LARGE, 1, "header column 1", "limit of 1 bytes");
    prm.max_field_bytes = 6; /* the header's names fit */
    const char *const r6[] = {"q1", "a1", "q2", "longer than five"};
    write_table(p, c2, 2, r6, 2);
    expect_fail_p(p, &prm, ISYNTH_ERR_TOO_LARGE, 3, "field 'output'",
                  "16 bytes, longer than the limit of 6 bytes");
    prm = isynth_seeds_params_default();
    prm.max_tasks = 1;
    expect_fail_p(p, &prm, ISYNTH_ERR_TOO_LARGE, 3, "more than 1 tasks", NULL);
    prm = isynth_seeds_params_default();
    prm.max_file_bytes = 100;
    expect_fail_p(p, &prm, ISYNTH_ERR_TOO_LARGE, 0, "limit", NULL);

    /* not a zip, a truncated zip, an empty file: clear errors naming the file */
    p = tmp_path(&t, "text.xlsx");
    const char text[] = "input,output\nq,a\n";
    write_bytes(p, text, sizeof text - 1);
    expect_fail(p, NULL, ISYNTH_ERR_XLSX, 0, NULL, NULL);
    char *data;
    size_t len;
    assert_int_equal(read_file_limited(t.paths[0], 1 << 20, &data, &len, NULL), ISYNTH_OK);
    const char *half = tmp_path(&t, "truncated.xlsx");
    write_bytes(half, data, len / 2);
    isynth_free(data);
    expect_fail(half, NULL, ISYNTH_ERR_XLSX, 0, NULL, NULL);
    p = tmp_path(&t, "empty.xlsx");
    write_bytes(p, "", 0);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 1, "empty file", NULL);

    /* a workbook forced by format must still be named .xlsx (the reader goes by extension) */
    prm = isynth_seeds_params_default();
    prm.format = ISYNTH_SEEDS_XLSX;
    expect_fail_p(GOOD "elyza.csv", &prm, ISYNTH_ERR_INVALID, 0, ".xlsx", NULL);
    tmp_close(&t);
}

/* A valid workbook with bytes flipped all over it (zip headers, deflate streams, the central
 * directory): each load either succeeds or fails with an error naming the file, never crashes
 * (run under ASan). */
/* A record holding more values than jansson should build (JSON_MAX_VALUES brackets and
 * commas), or nested deeper than JSON_MAX_DEPTH, is refused before it is parsed, in JSONL and
 * in a JSON array, naming its line. */
static void test_json_limits(void **state)
{
    (void)state;
    tmpdir t;
    tmp_open(&t);
    size_t cap = 80000 * 3 + 256, n = 0;
    char *d = malloc(cap);
    assert_non_null(d);
    n += (size_t)sprintf(d + n, "{\"input\": \"q\", \"output\": \"a\"}\n");
    n += (size_t)sprintf(d + n, "{\"input\": \"q2\", \"output\": \"a2\", \"x\": [");
    for (size_t i = 0; i < 40000; i++)
        n += (size_t)sprintf(d + n, i ? ",{}" : "{}");
    n += (size_t)sprintf(d + n, "]}\n");
    const char *p = tmp_path(&t, "wide.jsonl");
    write_bytes(p, d, n);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 2, "more than the limit of 65536 JSON values", NULL);
    /* the same records as a JSON array, the wide one on line 3 */
    const char *a = tmp_path(&t, "wide.json");
    size_t m = 0;
    char *arr = malloc(n + 8);
    assert_non_null(arr);
    arr[m++] = '[';
    arr[m++] = '\n';
    const char *nl = memchr(d, '\n', n);
    memcpy(arr + m, d, (size_t)(nl - d));
    m += (size_t)(nl - d);
    arr[m++] = ',';
    arr[m++] = '\n';
    memcpy(arr + m, nl + 1, n - (size_t)(nl + 1 - d) - 1);
    m += n - (size_t)(nl + 1 - d) - 1;
    arr[m++] = ']';
    write_bytes(a, arr, m);
    expect_fail(a, NULL, ISYNTH_ERR_PARSE, 3, "array element 1: more than the limit", NULL);
    free(arr);
    n = (size_t)sprintf(d, "{\"input\": \"q\", \"output\": \"a\", \"x\": ");
    for (size_t i = 0; i < 64; i++)
        d[n++] = '[';
    for (size_t i = 0; i < 64; i++)
        d[n++] = ']';
    n += (size_t)sprintf(d + n, "}\n");
    p = tmp_path(&t, "deep.jsonl");
    write_bytes(p, d, n);
    expect_fail(p, NULL, ISYNTH_ERR_PARSE, 1, "nested deeper than the limit of 64", NULL);
    free(d);
    tmp_close(&t);
}

static void test_xlsx_corrupted(void **state)
{
    (void)state;
    tmpdir t;
    tmp_open(&t);
    const char *good = tmp_path(&t, "good.xlsx"), *bad = tmp_path(&t, "bad.xlsx");
    write_table(good, elyza_cols, 4, elyza_rows, 4);
    char *data;
    size_t len;
    assert_int_equal(read_file_limited(good, 1 << 20, &data, &len, NULL), ISYNTH_OK);
    size_t failed = 0, tried = 0;
    for (size_t off = 0; off < len; off += 1 + off % 17) {
        data[off] ^= 0x5A;
        write_bytes(bad, data, len);
        data[off] ^= 0x5A;
        isynth_seedset *s = NULL;
        isynth_error e;
        isynth_err rc = isynth_seeds_load(bad, NULL, &s, &e);
        tried++;
        if (rc == ISYNTH_OK) {
            assert_non_null(s);
            isynth_seeds_free(s);
            continue;
        }
        failed++;
        assert_null(s);
        assert_true(rc == ISYNTH_ERR_XLSX || rc == ISYNTH_ERR_PARSE || rc == ISYNTH_ERR_UTF8 ||
                    rc == ISYNTH_ERR_TOO_LARGE);
        assert_non_null(strstr(e.msg, bad));
    }
    print_message("%zu of %zu corrupted workbooks refused\n", failed, tried);
    assert_true(failed > 0); /* parts the loader never reads may be damaged harmlessly */
    isynth_free(data);
    tmp_close(&t);
}

static void alloc_walk(const char *path, const char *map, bool sticky);

static void test_xlsx_alloc_failures(void **state)
{
    (void)state;
    tmpdir t;
    tmp_open(&t);
    const char *x = tmp_path(&t, "elyza.xlsx");
    write_table(x, elyza_cols, 4, elyza_rows, 4);
    alloc_walk(x, NULL, true);
    alloc_walk(x, NULL, false);
    const char *m = tmp_path(&t, "mapped.xlsx");
    const char *const mcols[] = {"qid", "question", "answer"};
    const char *const mrows[] = {"q1", "東京は？", "首都", "q2", "大阪は？", "都市"};
    write_table(m, mcols, 3, mrows, 2);
    alloc_walk(m, "instruction=question,output=answer,id=qid", true);
    alloc_walk(m, "instruction=question,output=answer,id=qid", false);
    tmp_close(&t);
}

/* ---- allocation failures ----------------------------------------------------------------- */

/* Fails the n-th allocation (and, when sticky, every later one) for n = 1, 2, ... until the load
 * succeeds; each failure must be ISYNTH_ERR_NOMEM with *out == NULL and nothing leaked (LSan). */
static void alloc_walk(const char *path, const char *map, bool sticky)
{
    isynth_seeds_params p = isynth_seeds_params_default();
    p.map = map;
    long n;
    for (n = 1; n < 100000; n++) {
        isynth_seedset *s = (isynth_seedset *)&s;
        isynth_error e;
        isynth_error_clear(&e);
        isynth_alloc_fail_at(n, sticky);
        isynth_err rc = isynth_seeds_load(path, &p, &s, &e);
        long counted = isynth_alloc_fail_at(0, false);
        if (rc == ISYNTH_OK) {
            assert_non_null(s);
            assert_true(s->n > 0);
            isynth_seeds_free(s);
            if (counted < n) /* the load no longer reaches allocation n: walk complete */
                break;
            /* with every allocation from n on failing, success would mean a swallowed failure;
             * a single failure may be recovered (libcsv retries a smaller buffer growth) */
            if (sticky)
                print_error("%s: allocation %ld of %ld failed but the load succeeded\n", path, n,
                            counted);
            assert_false(sticky);
            continue;
        }
        if (rc != ISYNTH_ERR_NOMEM) print_error("%s, allocation %ld: %s\n", path, n, e.msg);
        assert_int_equal(rc, ISYNTH_ERR_NOMEM);
        assert_null(s);
        assert_non_null(strstr(e.msg, "out of memory"));
    }
    assert_true(n > 3); /* the walk did fail real allocations */
    assert_true(n < 100000);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    static const struct {
        const char *file, *map;
    } files[] = {
        {GOOD "elyza.jsonl", NULL},
        {GOOD "self_instruct.jsonl", NULL},
        {GOOD "alpaca.json", NULL},
        {GOOD "messages.jsonl", NULL},
        {GOOD "multiline.csv", NULL},
        {GOOD "elyza_bom_crlf.csv", NULL},
        {GOOD "mapped.csv", "instruction=question,output=answer,input=context,id=qid"},
        {ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl", NULL},
        {ISYNTH_SOURCE_DIR "/data/seeds_ja.csv", NULL},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        alloc_walk(files[i].file, files[i].map, true);
        alloc_walk(files[i].file, files[i].map, false);
    }
}

/* ---- the project's sample seeds ---------------------------------------------------------- */

static void test_sample_seeds(void **state)
{
    (void)state;
    isynth_seedset *ja = load_ok(ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl", NULL);
    assert_true(ja->n >= 24);
    assert_string_equal(ja->shape, "elyza");
    assert_int_equal(ja->lang, ISYNTH_LANG_JA);
    isynth_seedset *csv = load_ok(ISYNTH_SOURCE_DIR "/data/seeds_ja.csv", NULL);
    assert_int_equal(csv->n, ja->n);
    assert_string_equal(csv->shape, "elyza");
    for (size_t i = 0; i < ja->n; i++) {
        assert_string_equal(csv->tasks[i].instruction, ja->tasks[i].instruction);
        assert_string_equal(csv->tasks[i].output, ja->tasks[i].output);
        assert_string_equal(csv->tasks[i].eval_aspect, ja->tasks[i].eval_aspect);
    }
    isynth_seeds_free(csv);
    isynth_seeds_free(ja);

    isynth_seedset *en = load_ok(ISYNTH_SOURCE_DIR "/data/seeds_en.jsonl", NULL);
    assert_true(en->n >= 12);
    assert_string_equal(en->shape, "self-instruct");
    assert_int_equal(en->lang, ISYNTH_LANG_EN);
    assert_string_equal(en->tasks[0].id, "seed_task_0");
    isynth_seeds_free(en);
}

/* ---- a run's rows as seeds (run:DIR) ---- */

/* A run in dir with three candidates: two accepted, one rejected. */
static void make_run(const char *dir)
{
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "created_at", "2026-12-04T05:00:00Z", &e),
                     ISYNTH_OK);
    isynth_request_rec r = {
        .stage = 1, .status = ISYNTH_REQ_DONE, .prompt = "p", .response = "x", .response_len = 1};
    long long rid;
    assert_int_equal(isynth_store_add_request(st, &r, &rid, &e), ISYNTH_OK);
    static const char *const ins[] = {"日本の首都はどこですか。", "俳句を一つ作ってください。",
                                      "次の文を要約してください。"};
    static const isynth_cand_status status[] = {ISYNTH_CAND_ACCEPTED, ISYNTH_CAND_REJECTED,
                                                ISYNTH_CAND_ACCEPTED};
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        isynth_candidate_rec c = {.request_id = rid,
                                  .idx = i,
                                  .instruction = ins[i],
                                  .input = i == 2 ? "長い文章。" : "",
                                  .output = "答えです。",
                                  .dedup_key = key,
                                  .status = status[i],
                                  .reason = i == 1 ? "rouge" : NULL,
                                  .nn_score = -1};
        assert_int_equal(isynth_store_add_candidate(st, &c, NULL, &e), ISYNTH_OK);
    }
    isynth_store_close(st);
}

static void test_run_seeds(void **state)
{
    (void)state;
    char dir[] = "/tmp/isynth-test-runseeds-XXXXXX", spec[64], db[80], xl[80];
    assert_non_null(mkdtemp(dir));
    snprintf(spec, sizeof spec, "run:%s", dir);
    snprintf(db, sizeof db, "%s/run.db", dir);
    snprintf(xl, sizeof xl, "%s/review.xlsx", dir);
    make_run(dir);
    isynth_seedset *s;
    isynth_error e;
    /* before a review: the accepted rows */
    assert_int_equal(isynth_seeds_load(spec, NULL, &s, &e), ISYNTH_OK);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->tasks[0].id, "g1");
    assert_string_equal(s->tasks[1].id, "g3");
    assert_string_equal(s->tasks[1].input, "長い文章。");
    assert_string_equal(s->shape, "run");
    assert_int_equal(s->lang, ISYNTH_LANG_JA);
    assert_non_null(strstr(s->source, "2 accepted, not reviewed rows"));
    assert_non_null(strstr(s->source, "2026-12-04T05:00:00Z"));
    char sha_before[65];
    memcpy(sha_before, s->sha256, sizeof sha_before);
    isynth_seeds_free(s);
    /* after a review: the reviewers' accepted and edited rows, with their edits */
    isynth_store *st;
    size_t rows;
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_review_export_xlsx(st, xl, false, &rows, &e), ISYNTH_OK);
    isynth_store_close(st);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT OR REPLACE INTO review(candidate_id, status, instruction,"
                                  " updated_at) VALUES(1, 'edited', '日本の首都と人口を答えて"
                                  "ください。', 'now'), (3, 'rejected', NULL, 'now')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(isynth_seeds_load(spec, NULL, &s, &e), ISYNTH_OK);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->tasks[0].instruction, "日本の首都と人口を答えてください。");
    assert_non_null(strstr(s->source, "1 reviewed rows"));
    assert_string_not_equal(s->sha256, sha_before);
    isynth_seeds_free(s);
    /* every row rejected by the reviewers: nothing to seed with, said so */
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "UPDATE review SET status = 'rejected'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(isynth_seeds_load(spec, NULL, &s, &e), ISYNTH_ERR_PARSE);
    assert_null(s);
    assert_non_null(strstr(e.msg, "no reviewed (accepted or edited) row"));
    /* no run there */
    assert_int_equal(isynth_seeds_load("run:/nonexistent-isynth-run", NULL, &s, &e),
                     ISYNTH_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "no run here"));
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (isynth_global_init(NULL)) return 1; /* the dependencies' allocations go through ours */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_default),
        cmocka_unit_test(test_elyza_jsonl),
        cmocka_unit_test(test_self_instruct),
        cmocka_unit_test(test_alpaca_json_array),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_crlf_jsonl),
        cmocka_unit_test(test_csv_bom_crlf),
        cmocka_unit_test(test_csv_multiline),
        cmocka_unit_test(test_csv_header_case_and_bool),
        cmocka_unit_test(test_map_csv),
        cmocka_unit_test(test_map_jsonl),
        cmocka_unit_test(test_map_invalid),
        cmocka_unit_test(test_format_param_overrides_extension),
        cmocka_unit_test(test_detect_lang),
        cmocka_unit_test(test_task_clear),
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_unopenable_and_unknown_format),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_huge_field),
        cmocka_unit_test(test_wide_seed_header),
        cmocka_unit_test(test_shared_readers),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_xlsx_elyza),
        cmocka_unit_test(test_xlsx_alpaca_and_map),
        cmocka_unit_test(test_xlsx_bad),
        cmocka_unit_test(test_json_limits),
        cmocka_unit_test(test_xlsx_corrupted),
        cmocka_unit_test(test_xlsx_alloc_failures),
        cmocka_unit_test(test_sample_seeds),
        cmocka_unit_test(test_run_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
