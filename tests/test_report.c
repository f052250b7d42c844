/* The run report, opened in a real headless browser (Debian's chromium): every chart is drawn
 * (paint on each canvas, counted by the page itself once drawn), the console has no error, the
 * page needs nothing from the network, and a row's text cannot break out of the page. The runs
 * are made by the scripted backend (tests/script.h) and, for hostile text, through the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isynth/pipeline.h"
#include "isynth/report.h"
#include "isynth/status.h"
#include "isynth/store.h"
#include "script.h"

#define N_CHARTS 11

static char dir[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/isynth-test-report-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* The whole of a file, NUL-terminated (the caller frees it). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The integer value of attribute name in the <body> tag of the dumped DOM, or -1. */
static long body_attr(const char *dom, const char *name)
{
    const char *b = strstr(dom, "<body");
    assert_non_null(b);
    const char *end = strchr(b, '>');
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    const char *a = strstr(b, key);
    if (!a || a > end) return -1;
    return strtol(a + strlen(key), NULL, 10);
}

/* Opens page in headless chromium and returns the DOM after the scripts ran (the caller frees
 * it); the browser's own log goes to dir/browser.log. A missing browser is a failure: the
 * set-up installs it. */
static char *browse(const char *page)
{
    char cmd[2048], dom[256], log[256];
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(log, sizeof log, "%s/browser.log", dir);
    assert_int_equal(system("command -v chromium >/dev/null"), 0);
    snprintf(cmd, sizeof cmd,
             "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run "
             "--user-data-dir='%s/profile' --enable-logging=stderr --v=0 "
             "--virtual-time-budget=10000 --dump-dom 'file://%s' >'%s' 2>'%s'",
             dir, page, dom, log);
    int rc = system(cmd);
    if (rc != 0) {
        char *l = slurp(log);
        print_message("chromium failed (%d): %s\n", rc, l);
        free(l);
    }
    assert_int_equal(rc, 0);
    /* a JavaScript error the page's own trap missed would be logged as an uncaught one */
    char *l = slurp(log);
    if (strstr(l, "Uncaught")) print_message("browser log: %s\n", l);
    assert_null(strstr(l, "Uncaught"));
    free(l);
    return slurp(dom);
}

/* Every chart drawn with paint on it, and no error seen by the page. */
static void assert_rendered(const char *d)
{
    assert_int_equal(body_attr(d, "data-charts"), N_CHARTS);
    assert_int_equal(body_attr(d, "data-painted"), N_CHARTS);
    assert_int_equal(body_attr(d, "data-errors"), 0);
}

/* The page holds everything it needs: no script, style or image from elsewhere. */
static void assert_self_contained(const char *page)
{
    assert_null(strstr(page, "<script src"));
    assert_null(strstr(page, "<link"));
    assert_null(strstr(page, "<img"));
    assert_non_null(strstr(page, "Permission is hereby granted")); /* Chart.js's licence */
}

static void test_report_of_scripted_run(void **state)
{
    (void)state;
    isynth_gen_params p = isynth_gen_params_default();
    p.seeds_path = ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl";
    p.out_dir = dir;
    p.target = 8;
    p.price_in = 0.5;
    p.price_out = 1.5;
    isynth_backend *b = scripted(0);
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    /* generate writes the report with the other exports, and the card points to it */
    char page[256], card[256];
    snprintf(page, sizeof page, "%s/report.html", dir);
    snprintf(card, sizeof card, "%s/README.md", dir);
    char *c = slurp(card);
    assert_non_null(strstr(c, "[report.html](report.html)"));
    assert_non_null(strstr(c, "| generated tokens |"));
    free(c);
    char *html = slurp(page);
    assert_self_contained(html);
    free(html);
    char *d = browse(page);
    assert_rendered(d);
    /* the headline and the first accepted rows are in the page */
    assert_non_null(strstr(d, "8 of 8 wanted"));
    assert_non_null(strstr(d, "光合成の仕組みを小学生向けに説明してください。"));
    free(d);
}

/* A row whose text is markup and script: shown as text, run never. */
static void test_report_hostile_text(void **state)
{
    (void)state;
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(dir, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_begin(st, &e), ISYNTH_OK);
    isynth_request_rec r = {.stage = 1,
                            .status = "done",
                            .examples = "[\"s1\"]",
                            .prompt = "p",
                            .response = "x",
                            .response_len = 1,
                            .prompt_tokens = 10,
                            .completion_tokens = 20,
                            .seconds = 1};
    long long rid;
    assert_int_equal(isynth_store_add_request(st, &r, &rid, &e), ISYNTH_OK);
    isynth_candidate_rec c = {
        .request_id = rid,
        .idx = 0,
        .instruction = "</script><script>window.__isynthErrors.push('injected')</script><!--",
        .input = "<script>",
        .output = "<img src=x onerror=\"document.body.dataset.errors=9\">",
        .dedup_key = "k1",
        .status = "accepted",
        .nn_score = 0.25};
    assert_int_equal(isynth_store_add_candidate(st, &c, NULL, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_commit(st, &e), ISYNTH_OK);
    char page[256];
    snprintf(page, sizeof page, "%s/hostile.html", dir);
    assert_int_equal(isynth_report_write(st, page, &e), ISYNTH_OK);
    isynth_store_close(st);
    char *d = browse(page);
    assert_rendered(d);
    /* the text is in the samples table as text */
    assert_non_null(strstr(d, "&lt;/script&gt;&lt;script&gt;window.__isynthErrors.push"));
    assert_non_null(strstr(d, "&lt;img src=x onerror="));
    free(d);
}

/* A run with seeds and no request yet (a first request still in flight): every chart is
 * drawn, empty. */
static void test_report_empty_run(void **state)
{
    (void)state;
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(dir, &st, &e), ISYNTH_OK);
    char page[256];
    snprintf(page, sizeof page, "%s/empty.html", dir);
    assert_int_equal(isynth_report_write(st, page, &e), ISYNTH_OK);
    isynth_store_close(st);
    char *d = browse(page);
    assert_rendered(d);
    assert_non_null(strstr(d, "No row was accepted."));
    free(d);
}

/* A directory without run.db is "no run here", and nothing is written. */
static void test_report_no_run(void **state)
{
    (void)state;
    isynth_store *st = NULL;
    isynth_error e;
    assert_int_equal(isynth_store_open_read(dir, &st, &e), ISYNTH_ERR_NOT_FOUND);
    assert_null(st);
    assert_non_null(strstr(e.msg, "no run here"));
    struct stat sb;
    char db[256];
    snprintf(db, sizeof db, "%s/run.db", dir);
    assert_int_not_equal(stat(db, &sb), 0);
}

int main(void)
{
    isynth_error e;
    if (isynth_global_init(&e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_of_scripted_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_hostile_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_empty_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_no_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
