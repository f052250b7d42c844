/* The public API as one piece: isynth/isynth.h alone brings every public header. This file
 * includes no other isynth header, names one function of each, and checks that every header in
 * include/isynth/ is one that isynth.h includes (a header added later and forgotten there fails
 * here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isynth/isynth.h"

/* One declaration of each public header, reached through isynth.h only: this file does not
 * compile when one of them is missing. */
static void test_one_of_each(void **state)
{
    (void)state;
    const void *fns[] = {
        (const void *)isynth_backend_capacity,            /* backend.h */
        (const void *)isynth_check_params_default,        /* check.h */
        (const void *)isynth_scaffold_new,                /* checks.h */
        (const void *)isynth_strerror,                    /* common.h */
        (const void *)isynth_consistency_params_default,  /* consistency.h */
        (const void *)isynth_export_run,                  /* export.h */
        (const void *)isynth_filter_params_default,       /* filter.h */
        (const void *)isynth_judge_params_default,        /* judge.h */
        (const void *)isynth_jsonl_params_default,        /* jsonl.h */
        (const void *)isynth_normalize_text,              /* normalize.h */
        (const void *)isynth_openai_params_default,       /* openai.h */
        (const void *)isynth_outfile_open,                /* outfile.h */
        (const void *)isynth_parse_params_default,        /* parse.h */
        (const void *)isynth_gen_params_default,          /* pipeline.h */
        (const void *)isynth_prompt_params_default,       /* prompt.h */
        (const void *)isynth_keywords_new,                /* quality.h */
        (const void *)isynth_report_write,                /* report.h */
        (const void *)isynth_review_export_xlsx,          /* review.h */
        (const void *)isynth_tokenizer_new,               /* rouge.h */
        (const void *)isynth_seeds_params_default,        /* seeds.h */
        (const void *)isynth_status_get,                  /* status.h */
        (const void *)isynth_store_open,                  /* store.h */
        (const void *)isynth_table_reader_params_default, /* table.h */
        (const void *)isynth_lang_name,                   /* task.h */
        (const void *)isynth_verify_params_default,       /* verify.h */
        (const void *)isynth_xlsx_writer_params_default,  /* xlsx.h */
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        assert_non_null(fns[i]);
    assert_string_equal(isynth_lang_name(ISYNTH_LANG_JA), "ja");
}

/* Every header of include/isynth/ is included by isynth.h. */
static void test_umbrella_complete(void **state)
{
    (void)state;
    FILE *f = fopen(ISYNTH_SOURCE_DIR "/include/isynth/isynth.h", "r");
    assert_non_null(f);
    static char umbrella[16384];
    size_t n = fread(umbrella, 1, sizeof umbrella - 1, f);
    umbrella[n] = '\0';
    fclose(f);
    DIR *d = opendir(ISYNTH_SOURCE_DIR "/include/isynth");
    assert_non_null(d);
    struct dirent *e;
    int headers = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".h") || !strcmp(e->d_name, "isynth.h"))
            continue;
        char line[300];
        snprintf(line, sizeof line, "#include \"isynth/%s\"", e->d_name);
        if (!strstr(umbrella, line)) print_error("isynth.h does not include %s\n", e->d_name);
        assert_non_null(strstr(umbrella, line));
        headers++;
    }
    closedir(d);
    assert_true(headers >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_of_each),
        cmocka_unit_test(test_umbrella_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
