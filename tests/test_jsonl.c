/* The public JSON Lines reader (isynth/jsonl.h) that the table reader, the seed loader and
 * `isynth dedup` share: line framing (BOM, CRLF, blank lines counted), the UTF-8 check, the line
 * cap, one pass over a pipe, and the string field a caller asks for; the one extension mapping;
 * and isynth_outfile, the library's atomic output for callers that write their own bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "isynth/isynth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMPDIR_NAME "jsonl"
#include "tmpdir.h"

static const char *tpath(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_bytes(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_lines_and_fields(void **state)
{
    (void)state;
    const char *path = tpath("a.jsonl");
    static const char text[] = "\xEF\xBB\xBF{\"t\": \"one\"}\r\n"
                               "\n"
                               "  \t\r\n"
                               "{\"t\": \"two\", \"n\": 2}\n"
                               "{\"n\": 3}\n"
                               "[1]\n"
                               "{\"t\": \"x\", \"t\": \"y\"}";
    write_bytes(path, text, sizeof text - 1);
    isynth_jsonl_reader *r;
    isynth_error e;
    assert_int_equal(isynth_jsonl_open(path, NULL, &r, &e), ISYNTH_OK);
    const char *line, *s;
    size_t n, sn;
    /* the BOM and the CR are dropped */
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_int_equal(n, strlen("{\"t\": \"one\"}"));
    assert_memory_equal(line, "{\"t\": \"one\"}", n);
    assert_int_equal(isynth_jsonl_line(r), 1);
    assert_int_equal(isynth_jsonl_get_string(r, "t", &s, &sn, &e), ISYNTH_OK);
    assert_string_equal(s, "one");
    assert_int_equal(sn, 3);
    /* blank lines are skipped and counted */
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_int_equal(isynth_jsonl_line(r), 4);
    assert_int_equal(isynth_jsonl_get_string(r, "n", &s, &sn, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "a.jsonl:4: field 'n' is not a string"));
    assert_int_equal(isynth_jsonl_get_string(r, "t", &s, &sn, &e), ISYNTH_OK);
    assert_string_equal(s, "two");
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_int_equal(isynth_jsonl_get_string(r, "t", &s, &sn, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "a.jsonl:5: field 't' is missing"));
    /* a line that is not an object, and a repeated key; the last line has no newline */
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_int_equal(isynth_jsonl_get_string(r, "t", &s, &sn, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "a.jsonl:6: expected a JSON object, found an array"));
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_int_equal(isynth_jsonl_get_string(r, "t", &s, &sn, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "a.jsonl:7: duplicate key at column"));
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_null(line);
    isynth_jsonl_close(r);
    isynth_jsonl_close(NULL);
}

/* Bytes are checked line by line and named by line and byte; a line past the cap is refused. */
static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        isynth_err code;
        const char *msg;
    } cases[] = {
        {"{\"t\": \"ok\"}\n{\"t\": \"\xff\"}\n", ISYNTH_ERR_UTF8,
         "b.jsonl:2: invalid UTF-8 (byte 0xFF) at byte 8 of the line"},
        {"{}\n\n{\"t\": \"a\0b\"}\n", ISYNTH_ERR_PARSE,
         "b.jsonl:3: NUL byte at byte 9 of the line"},
        {"{\"t\": \"short\"}\n{\"t\": \"a line longer than the cap\"}\n", ISYNTH_ERR_TOO_LARGE,
         "b.jsonl:2: longer than the line limit of 24 bytes"},
    };
    const char *path = tpath("b.jsonl");
    isynth_jsonl_params p = isynth_jsonl_params_default();
    assert_int_equal(p.max_line_bytes, 64u << 20);
    p.max_line_bytes = 24;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the texts hold NUL: their length is up to the last newline */
        size_t len = strlen(cases[i].text);
        if (i == 1) len = 18;
        write_bytes(path, cases[i].text, len);
        isynth_jsonl_reader *r;
        isynth_error e;
        assert_int_equal(isynth_jsonl_open(path, &p, &r, &e), ISYNTH_OK);
        const char *line;
        size_t n;
        isynth_err rc;
        while (!(rc = isynth_jsonl_next(r, &line, &n, &e)) && line)
            ;
        isynth_jsonl_close(r);
        print_message("%s\n", e.msg);
        assert_int_equal(rc, cases[i].code);
        assert_non_null(strstr(e.msg, cases[i].msg));
    }
    isynth_jsonl_reader *r = (isynth_jsonl_reader *)&r;
    isynth_error e;
    assert_int_equal(isynth_jsonl_open(tpath("none.jsonl"), NULL, &r, &e), ISYNTH_ERR_IO);
    assert_null(r);
    assert_non_null(strstr(e.msg, "none.jsonl: cannot open"));
}

/* One pass: a pipe reads like a file. */
static void test_pipe(void **state)
{
    (void)state;
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    static const char text[] = "{\"t\": \"p1\"}\n{\"t\": \"p2\"}\n";
    assert_int_equal(write(fd[1], text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
    isynth_jsonl_reader *r;
    isynth_error e;
    assert_int_equal(isynth_jsonl_open(path, NULL, &r, &e), ISYNTH_OK);
    close(fd[0]);
    const char *line, *s;
    size_t n, sn;
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
        assert_int_equal(isynth_jsonl_get_string(r, "t", &s, &sn, &e), ISYNTH_OK);
        assert_int_equal(s[1] - '0', i);
    }
    assert_int_equal(isynth_jsonl_next(r, &line, &n, &e), ISYNTH_OK);
    assert_null(line);
    isynth_jsonl_close(r);
}

/* The one mapping from extension to format, for tables and seeds. */
static void test_format_from_path(void **state)
{
    (void)state;
    assert_int_equal(isynth_table_format_from_path("a.jsonl"), ISYNTH_TABLE_JSONL);
    assert_int_equal(isynth_table_format_from_path("a.NDJSON"), ISYNTH_TABLE_JSONL);
    assert_int_equal(isynth_table_format_from_path("dir/a.Json"), ISYNTH_TABLE_JSON);
    assert_int_equal(isynth_table_format_from_path("a.csv"), ISYNTH_TABLE_CSV);
    assert_int_equal(isynth_table_format_from_path("a.XLSX"), ISYNTH_TABLE_XLSX);
    assert_int_equal(isynth_table_format_from_path("a.txt"), ISYNTH_TABLE_UNKNOWN);
    assert_int_equal(isynth_table_format_from_path("d.csv/file"), ISYNTH_TABLE_UNKNOWN);
    assert_int_equal(isynth_table_format_from_path("noext"), ISYNTH_TABLE_UNKNOWN);
    /* tables refuse .json (a seed format only) as they refuse any other extension */
    isynth_table_reader *r;
    isynth_error e;
    assert_int_equal(isynth_table_reader_open("x.json", NULL, &r, &e), ISYNTH_ERR_INVALID);
    assert_non_null(strstr(e.msg, "unknown extension"));
}

/* Nothing at the path until commit; abort leaves the old file and no temporary. */
static void test_outfile(void **state)
{
    (void)state;
    const char *path = tpath("out.txt");
    write_bytes(path, "old\n", 4);
    isynth_outfile *o;
    isynth_error e;
    assert_int_equal(isynth_outfile_open(path, &o, &e), ISYNTH_OK);
    fputs("new\n", isynth_outfile_stream(o));
    isynth_outfile_abort(o);
    isynth_outfile_abort(NULL);
    char got[16] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof got, f), 4);
    fclose(f);
    assert_string_equal(got, "old\n");
    assert_int_equal(isynth_outfile_open(path, &o, &e), ISYNTH_OK);
    fputs("new\n", isynth_outfile_stream(o));
    assert_int_equal(isynth_outfile_commit(o, &e), ISYNTH_OK);
    f = fopen(path, "rb");
    assert_non_null(f);
    memset(got, 0, sizeof got);
    assert_int_equal(fread(got, 1, sizeof got, f), 4);
    fclose(f);
    assert_string_equal(got, "new\n");
    /* the directory holds the file and nothing else */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s' | wc -l)\" = 1", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(isynth_outfile_open(tpath("no/such/dir.txt"), &o, &e), ISYNTH_ERR_IO);
    assert_null(o);
}

int main(void)
{
    isynth_error e;
    if (isynth_global_init(&e)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_format_from_path),
        cmocka_unit_test_setup_teardown(test_outfile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
