/* The task record shared by seeds, candidates and the dataset, and the seed set. */
#ifndef ISYNTH_TASK_H
#define ISYNTH_TASK_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One instruction-tuning task. All strings are NUL-terminated, valid UTF-8, owned by whoever
 * owns the task (the seed set, the candidate list...); empty fields are "" never NULL. */
typedef struct isynth_task {
    char *id;          /* seed id from the file ("id" column) or "seed-<line>" */
    char *instruction; /* what the user asks; ELYZA's `input` column lands here */
    char *input;       /* optional context for the instruction */
    char *output;      /* the reference answer */
    char *eval_aspect; /* ELYZA's grading notes; "" elsewhere */
    bool is_classification;
    long line; /* 1-based line in the source file where the record starts */
} isynth_task;

/* Language of a text set, decided from the share of Japanese characters. */
typedef enum isynth_lang { ISYNTH_LANG_EN = 0, ISYNTH_LANG_JA = 1 } isynth_lang;

/* "ja" or "en"; static string. */
const char *isynth_lang_name(isynth_lang lang);

/* Decides the language of n texts (NULL ones skipped): ja when kana and kanji are at least 30%
 * of their letters, en otherwise (no letter at all included). Letters are counted as
 * isynth_quality_language counts them (NFKD: full-width Latin and half-width kana are letters of
 * their script; digits are none), so text detected ja passes the ja filter's share at its
 * default 0.3. Chinese, all kanji, is ja here: the filter tells it apart. */
isynth_lang isynth_lang_detect(const char *const *texts, size_t n);

/* Frees the strings of one task (not the struct itself); NULL-safe. */
void isynth_task_clear(isynth_task *t);

#ifdef __cplusplus
}
#endif
#endif
