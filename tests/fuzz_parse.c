/* libFuzzer target for the parser: any bytes with any parameters, sometimes with an injected
 * allocation failure; aborts when a result breaks the documented invariants.
 * First byte: bit 0 want_output, bit 1 truncated, bits 2-5 max_tasks, bit 6 fail the n-th
 * allocation (n = second byte + 1), bit 7 make that failure sticky. */
#include "internal.h"
#include "isynth/parse.h"

#include <stdlib.h>
#include <string.h>

static void check_string(const char *s)
{
    if (!s) abort();
    size_t n = strlen(s);
    if (n > ISYNTH_PARSE_MAX_FIELD || !utf8_valid(s, n, NULL)) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    isynth_parse_params prm = isynth_parse_params_default();
    long fail_at = 0;
    bool sticky = false;
    if (size >= 2) {
        prm.want_output = data[0] & 1;
        prm.truncated = (data[0] >> 1) & 1;
        prm.max_tasks = (data[0] >> 2) & 15;
        if (data[0] & 64) {
            fail_at = (long)data[1] + 1;
            sticky = data[0] & 128;
        }
        data += 2;
        size -= 2;
    }
    isynth_parsed *r = NULL;
    isynth_error err;
    isynth_alloc_fail_at(fail_at, sticky);
    isynth_err rc = isynth_parse_tasks((const char *)data, size, &prm, &r, &err);
    isynth_alloc_fail_at(0, false);
    if (rc == ISYNTH_ERR_NOMEM && fail_at && !r && err.code == ISYNTH_ERR_NOMEM) return 0;
    if (rc != ISYNTH_OK || !r) abort();
    size_t max = prm.max_tasks ? prm.max_tasks : ISYNTH_PARSE_DEFAULT_MAX_TASKS;
    if (r->n > max || r->n_unparseable > ISYNTH_PARSE_MAX_UNPARSEABLE) abort();
    for (size_t i = 0; i < r->n; i++) {
        const isynth_task *t = &r->tasks[i];
        check_string(t->id);
        check_string(t->instruction);
        check_string(t->input);
        check_string(t->output);
        check_string(t->eval_aspect);
        if (!t->instruction[0] || (prm.want_output ? !t->output[0] : t->output[0] != '\0')) abort();
    }
    for (size_t i = 0; i < r->n_unparseable; i++) {
        check_string(r->unparseable_reasons[i]);
        check_string(r->unparseable_text[i]);
    }
    isynth_parsed_free(r);
    return 0;
}
