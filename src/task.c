/* The task record shared by seeds, candidates and the dataset. A task owns its strings; this
 * file holds the few helpers every module that keeps tasks needs. */
#include "isynth/task.h"
#include "internal.h"

#include <string.h>

const char *isynth_lang_name(isynth_lang lang)
{
    return lang == ISYNTH_LANG_JA ? "ja" : "en";
}

isynth_lang isynth_lang_detect(const char *const *texts, size_t n)
{
    lang_tally t = {0};
    for (size_t i = 0; texts && i < n; i++)
        if (texts[i]) lang_tally_add(&t, texts[i], strlen(texts[i]));
    return lang_tally_lang(&t);
}

isynth_err task_init(isynth_task *t, const char *id, const char *instruction, const char *input,
                     const char *output)
{
    *t = (isynth_task){0};
    if ((id && !(t->id = isynth_strdup(id))) || !(t->instruction = isynth_strdup(instruction)) ||
        !(t->input = isynth_strdup(input ? input : "")) ||
        !(t->output = isynth_strdup(output ? output : "")) ||
        !(t->eval_aspect = isynth_strdup(""))) {
        isynth_task_clear(t);
        return ISYNTH_ERR_NOMEM;
    }
    return ISYNTH_OK;
}

void isynth_task_clear(isynth_task *t)
{
    if (!t) return;
    isynth_free(t->id);
    isynth_free(t->instruction);
    isynth_free(t->input);
    isynth_free(t->output);
    isynth_free(t->eval_aspect);
    t->id = t->instruction = t->input = t->output = t->eval_aspect = NULL;
    t->is_classification = false;
    t->line = 0;
}
