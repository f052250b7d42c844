/* Row checks: what makes one generated task junk by itself, whatever the pool holds. Each check
 * looks at the fields of one task (already NFKC-normalised, as the filter chain leaves them) and
 * returns a static reason string, or NULL when the task passes:
 *   no_request     the instruction asks for nothing: a quotation, a statement, a next step
 *   scaffolding    the prompt's own framing written into a field (task numbers, field labels,
 *                  example labels, the subject rule), with patterns derived from the templates
 *   missing_input  the instruction points at a text ("次の文章", "the following passage") that
 *                  neither the input nor the instruction holds
 *   unbalanced     an opening bracket or quote without its closing one, or the reverse
 *   repetition     degenerate loops: a line or sentence again and again, a short unit repeated
 *                  back to back, or most of the text made of repeated n-grams
 *   echo           the output restates the instruction and adds little, is its first line,
 *                  starts with the whole instruction, or is the input again; or the input is
 *                  the instruction again
 *   no_answer      the output refuses or asks a question back instead of answering
 *   wrong_language the output is not in the instruction's language (translations and code
 *                  excepted)
 * All checks are Japanese-first and also right for English. The `detail` buffers get a short
 * human-readable reason ("「 at 12 never closed"). */
#ifndef ISYNTH_CHECKS_H
#define ISYNTH_CHECKS_H

#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scaffolding patterns: the framing words of both built-in templates (タスク/Task numbers, the
 * 指示/入力/出力 and Instruction/Input/Output labels, なし/<noinput>, 新しいタスク, example labels
 * such as 例1: and 示例2:), the subject rule around {{topic}}, and every line of the templates
 * in use. Opaque; free with isynth_scaffold_free. */
typedef struct isynth_scaffold isynth_scaffold;

/* Creates the patterns of the built-in Japanese and English templates. Caller frees. */
isynth_err isynth_scaffold_new(isynth_scaffold **out, isynth_error *err);
/* Adds the patterns of a user template (--template): the word before {{next}} as a task-number
 * prefix, each "LABEL:" it shows, the text around {{topic}}, and its lines of eight or more
 * characters. The text is copied. */
isynth_err isynth_scaffold_add_template(isynth_scaffold *s, const char *tmpl, isynth_error *err);
/* NULL-safe. */
void isynth_scaffold_free(isynth_scaffold *s);

/* Flags of isynth_checks_scaffolding. */
enum {
    /* the task asks for code: input and output labels are an I/O example or spec of a program
     * there, not framing */
    ISYNTH_SCAF_CODE_TASK = 1u,
    /* the field is an instruction: one that starts with an example label (例1:, Example 2:) is
     * framing even without other labels */
    ISYNTH_SCAF_INSTRUCTION = 2u,
    /* the field is the instruction or the input: a field label anywhere in it (要者(入力: 接客))
     * is framing, unless the task asks for code (an I/O spec is part of a code task) */
    ISYNTH_SCAF_TASK_FIELD = 4u,
};

/* "scaffolding" when text holds framing, with what was found in detail; else NULL. flags are
 * ISYNTH_SCAF_* bits. */
const char *isynth_checks_scaffolding(const isynth_scaffold *s, const char *text, size_t len,
                                      unsigned flags, char *detail, size_t cap);

/* "missing_input" when the instruction refers to a text that neither input nor the instruction
 * itself holds (no quoted passage, nothing after the referring sentence); else NULL. */
const char *isynth_checks_missing_input(const char *instruction, const char *input, char *detail,
                                        size_t cap);

/* "unbalanced" when a bracket or quote pair (「」『』【】()“”《》〈〉) is not closed, or closes
 * what was never opened; list markers such as "1)" and "a)" are not brackets. Else NULL. */
const char *isynth_checks_unbalanced(const char *text, size_t len, char *detail, size_t cap);

/* "repetition" for degenerate loops: a line or sentence of four or more letters occurring three
 * or more times; a unit of up to 32 characters repeated back to back four or more times over
 * at least 16 characters (ten times for one character, digits excepted); or, in texts of 60
 * tokens or more, over 60% of the tokens inside 6-grams that occur more than once. Else NULL. */
const char *isynth_checks_repetition(const char *text, size_t len, char *detail, size_t cap);

/* "echo" when the output holds most (60%) of the instruction's letters in order, with
 * its first sentence among them (60% too), adds fewer than max(8, 30%) letters of its own and
 * brings no content of its own (fewer than two kanji or katakana absent from the instruction, or
 * Latin words other than function words: "説明します" is an echo, "東京です" an answer); or when
 * the output is the instruction's first line (of several). Else NULL. Letters here are letters and
 * digits, Latin case folded. err only on allocation failure. */
isynth_err isynth_checks_echo(const char *instruction, const char *output, const char **reason,
                              char *detail, size_t cap, isynth_error *err);

/* "wrong_language" when a Japanese row (the field or the instruction has kana) holds a Chinese
 * character that Japanese does not write (a simplified form such as 这, 们, 长: outside JIS X 0208
 * and JIS X 0213), which small models mix into Japanese; fields[0..n) are checked in order
 * (instruction, input, output). Not for translation and code tasks. Else NULL. */
const char *isynth_checks_hanzi(const char *instruction, const char *const *fields, size_t n,
                                char *detail, size_t cap);

/* "wrong_language" when the output's letters are not in the instruction's language: a Japanese
 * instruction (any kana, or mostly kanji) answered with ten or more letters and no kana at all
 * (English or Chinese); an English instruction answered with mostly Japanese letters. Tasks
 * that ask for a translation, another language or code are not checked. Else NULL. */
const char *isynth_checks_language_pair(const char *instruction, const char *output, char *detail,
                                        size_t cap);

/* "no_request" when the instruction asks for nothing: it compares a quotation with itself
 * (「何かが起こりたい」と「何かが起こりたい」の違い), it is only a quotation
 * (「古池や蛙飛びこむ水の 音」, "Hello"), it starts with 次に / "Next," / "Then," (a step of
 * something else), or it is Japanese (has kana) with no request form (ください, なさい, せよ,
 * ましょう, てほしい, お願い), no question (か。, ?, でしょうか, 何, なぜ, どう, どの, いくつ, 誰,
 * いつ, とは) and no sentence ending in the imperative て/で, こと, か or よ. English is judged
 * only by the first two rules. Else NULL. */
const char *isynth_checks_request(const char *instruction, char *detail, size_t cap);

/* "no_answer" when the output starts at the second or a later item of a list ("2. …": its
 * beginning is missing), refuses (申し訳ありませんが…できません, "I'm sorry… cannot"; not
 * for tasks that ask for an apology, a refusal, a mail or a letter) or is one sentence that asks
 * a question back (…ますか。, …?; not for tasks that ask for a question or a quiz). Else NULL. */
const char *isynth_checks_answer(const char *instruction, const char *output, char *detail,
                                 size_t cap);

/* True when the instruction asks for code (プログラム, コード, 関数, Python, SQL, program, ...). */
bool isynth_checks_is_code_task(const char *instruction);

/* Runs the checks on one task in the order scaffolding (every field), no_request, missing_input,
 * unbalanced (every field), repetition (every field), then, when with_output, echo (of the
 * instruction, of the input, a piece given back), no_answer and wrong_language.
 * *reason gets the first reason or NULL. */
isynth_err isynth_checks_task(const isynth_scaffold *s, const isynth_task *t, bool with_output,
                              const char **reason, char *detail, size_t cap, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
