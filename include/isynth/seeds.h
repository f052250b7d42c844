/* Seed loading: JSONL, CSV and XLSX (first sheet, first row the header) into a seed set.
 * Recognised shapes: ELYZA-tasks-100 (input, output, eval_aspect), Self-Instruct
 * seed_tasks.jsonl (instruction, instances[{input, output}], is_classification), Alpaca
 * (instruction, input, output), chat "messages"; anything else through a column map. */
#ifndef ISYNTH_SEEDS_H
#define ISYNTH_SEEDS_H

#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum isynth_seed_format {
    ISYNTH_SEEDS_AUTO = 0, /* by extension: .jsonl/.json, .csv, .xlsx */
    ISYNTH_SEEDS_JSONL,
    ISYNTH_SEEDS_CSV,
    ISYNTH_SEEDS_XLSX,
} isynth_seed_format;

typedef struct isynth_seeds_params {
    isynth_seed_format format;
    /* "instruction=COL,input=COL,output=COL,id=COL,eval_aspect=COL" (any subset), or NULL.
     * Borrowed for the duration of the call. */
    const char *map;
    size_t max_file_bytes;  /* refuse larger files; default 64 MiB */
    size_t max_field_bytes; /* refuse a longer field; default 256 KiB */
    size_t max_tasks;       /* refuse more records; default 100000 */
} isynth_seeds_params;

/* A loaded seed set; everything inside is owned by the set. A caller may also build one in
 * memory for isynth_generate (isynth_gen_params.seeds): tasks, n and lang are then all it needs;
 * path and shape may be NULL and sha256 empty (the run records a hash of the tasks instead). */
typedef struct isynth_seedset {
    isynth_task *tasks;
    size_t n;
    char *path;        /* the path given; NULL for seeds built in memory */
    char sha256[65];   /* of the file's bytes; "" for seeds built in memory */
    const char *shape; /* static: "elyza", "self-instruct", "alpaca", "messages", "mapped";
                          NULL for seeds built in memory (recorded as "memory") */
    isynth_lang lang;  /* ja when Japanese characters dominate the instructions */
    char *source;      /* "run:DIR" seeds: the source run (directory, when it was created, whether
                          the rows are reviewed or accepted ones); NULL for files */
} isynth_seedset;

isynth_seeds_params isynth_seeds_params_default(void);

/* Loads seeds from path. On success *out is a new set the caller frees with
 * isynth_seeds_free(). On failure *out is NULL and err names file, line and field. A file
 * with no usable task is an error (ISYNTH_ERR_PARSE). */
isynth_err isynth_seeds_load(const char *path, const isynth_seeds_params *params,
                             isynth_seedset **out, isynth_error *err);

void isynth_seeds_free(isynth_seedset *s);

#ifdef __cplusplus
}
#endif
#endif
