/* Parser: free model text to candidate tasks. Tolerant of numbering variants ("タスク1:",
 * "Task 2.", "### タスク3", "**Task 4**", "12.", full-width digits), label variants ("指示:",
 * "指示：", "【指示】", "**Instruction**:", "### 出力"), missing or extra sections, code fences,
 * chatter before and after, truncated output and junk; never crashes on any bytes.
 *
 * Accepted shape (Japanese or English, mixed is fine):
 *
 *     タスク1                       Task 1
 *     指示: <instruction>           Instruction: <instruction>
 *     入力: <input or なし>         Input: <input or <noinput>>
 *     出力: <output, many lines>    Output: <output, many lines>
 *
 * Label words: instruction = 指示 指示文 質問 命令 Instruction(s) Prompt Question;
 * input = 入力 入力文 コンテキスト Input(s) Context; output = 出力 回答 答え 応答 解答 Output(s)
 * Answer Response. The secondary words (質問, 回答, Question, Answer...) are labels only when
 * the text never uses the main word of the same section (指示/Instruction, 入力/Input,
 * 出力/Output), so an answer that contains "質問:" lines stays one answer. */
#ifndef ISYNTH_PARSE_H
#define ISYNTH_PARSE_H

#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inputs longer than this are refused with ISYNTH_ERR_TOO_LARGE. */
#define ISYNTH_PARSE_MAX_INPUT ((size_t)16 << 20)
/* A field (instruction, input, output) longer than this makes its block unparseable
 * ("too long"); stored raw block texts are cut to this length too. */
#define ISYNTH_PARSE_MAX_FIELD ((size_t)64 << 10)
/* At most this many unparseable blocks are recorded per response; later ones are skipped. */
#define ISYNTH_PARSE_MAX_UNPARSEABLE 64
/* max_tasks used when the caller leaves it 0. */
#define ISYNTH_PARSE_DEFAULT_MAX_TASKS 20

/* Result of parsing one response. tasks[i] carry instruction/input/output (id and
 * eval_aspect are "", line is the 1-based line of the response where the task starts); all
 * strings are valid UTF-8 without NUL and owned by the result. */
typedef struct isynth_parsed {
    isynth_task *tasks;
    size_t n;
    /* Blocks that looked like a task but could not be used, with a short static reason:
     * "empty", "no instruction", "no output", "truncated" or "too long". */
    size_t n_unparseable;
    const char **unparseable_reasons;
    char **unparseable_text; /* the raw block (cut to ISYNTH_PARSE_MAX_FIELD), owned */
} isynth_parsed;

typedef struct isynth_parse_params {
    bool want_output; /* true: a task needs an output section (one-stage mode); false: tasks
                         carry instruction and input only and output is "" (two-stage) */
    bool truncated;   /* true: the generation hit max tokens; the last block is dropped as
                         "truncated" unless it is complete (closed by a blank line, a closing
                         fence or a rule before the end of the text) */
    size_t max_tasks; /* stop after this many tasks; default 20, 0 also means 20 */
} isynth_parse_params;

/* Defaults: want_output true, truncated false, max_tasks 20. */
isynth_parse_params isynth_parse_params_default(void);

/* Parses len bytes of text (any bytes; invalid UTF-8 and NUL become U+FFFD, CR LF becomes LF).
 * params may be NULL for the defaults. On success *out is a new result the caller frees with
 * isynth_parsed_free(); zero tasks is success, not an error. Errors: ISYNTH_ERR_INVALID (NULL
 * out, or NULL text with len > 0), ISYNTH_ERR_TOO_LARGE (len > ISYNTH_PARSE_MAX_INPUT),
 * ISYNTH_ERR_NOMEM; on error *out is NULL and nothing is leaked. */
isynth_err isynth_parse_tasks(const char *text, size_t len, const isynth_parse_params *params,
                              isynth_parsed **out, isynth_error *err);

/* Parses a reply written as the JSON object of isynth_prompt_json_schema ({"tasks": [{
 * "instruction", "input", "output"}]}), as a server that enforced the schema returns it. An
 * input that says "none" ("なし", "<noinput>") becomes "", as in text replies; an item missing
 * a field is unparseable ("no instruction", "no output"); a reply cut by max tokens keeps its
 * complete items; text that is not such an object gives zero tasks. Same contract otherwise as
 * isynth_parse_tasks (line is the item's 1-based index). */
isynth_err isynth_parse_json_tasks(const char *text, size_t len, const isynth_parse_params *params,
                                   isynth_parsed **out, isynth_error *err);

/* Frees a result and everything it owns; NULL-safe. */
void isynth_parsed_free(isynth_parsed *p);

#ifdef __cplusplus
}
#endif
#endif
