/* The other Self-Instruct filters, made correct for Japanese: a keyword list, length bounds in
 * tokens, instructions that start with punctuation or non-text, and the share of characters in
 * the target language. Each filter returns a static reason string ("keyword",
 * "too_short_tokens", ...) or NULL when the text passes, and allocates nothing. */
#ifndef ISYNTH_QUALITY_H
#define ISYNTH_QUALITY_H

#include "isynth/common.h"
#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A keyword list. Matching is on NFKD + case folding of both sides with whitespace runs
 * collapsed, and respects script-run boundaries: a keyword end that is a Latin letter or
 * digit, a kanji or a katakana must not touch a character of the same script in the text
 * ("file" does not match "profile", 図 does not match 意図 or 図書館, ファイル does not match
 * プロファイル); hiragana ends match anywhere. */
typedef struct isynth_keywords isynth_keywords;

/* Self-Instruct's English list (image, images, graph, graphs, picture, pictures, file, files,
 * map, maps, draw, plot, go to, video, audio, music, flowchart, diagram) plus 画像, 図, グラフ,
 * 写真, 動画, 音声, 音楽, ファイル, 地図, 描いて, フローチャート. Free with isynth_keywords_free.
 */
isynth_err isynth_keywords_default(isynth_keywords **out, isynth_error *err);
/* An empty list; free with isynth_keywords_free. */
isynth_err isynth_keywords_new(isynth_keywords **out, isynth_error *err);
/* Loads a list from a UTF-8 file, one keyword per line; blank lines and lines starting with '#'
 * are skipped, surrounding spaces trimmed. Errors name the file and line. Caller frees. */
isynth_err isynth_keywords_load(const char *path, isynth_keywords **out, isynth_error *err);
/* Adds one keyword (copied; valid UTF-8, at most 256 bytes). */
isynth_err isynth_keywords_add(isynth_keywords *kw, const char *word, size_t len,
                               isynth_error *err);
size_t isynth_keywords_count(const isynth_keywords *kw);
/* NULL-safe. */
void isynth_keywords_free(isynth_keywords *kw);

/* "keyword" when text contains one of the keywords (its index into *which when which is not
 * NULL), else NULL. "invalid_utf8" for bytes that are not valid UTF-8. */
const char *isynth_quality_keywords(const isynth_keywords *kw, const char *text, size_t len,
                                    size_t *which);
/* Length in tokens as the chars tokenizer counts them (one per kanji or kana, one per Latin
 * word): "too_short_tokens" below min_tokens, "too_long_tokens" above max_tokens (0 = no
 * maximum), else NULL. */
const char *isynth_quality_length(const char *text, size_t len, size_t min_tokens,
                                  size_t max_tokens);
/* "empty" for blank text; "starts_with_punctuation" when the first non-space character is
 * punctuation other than an opening bracket or quote (「, (, “, ...); "starts_with_non_text"
 * for symbols, emoji, control or format characters and lone combining marks. Digits and
 * letters of any script pass. */
const char *isynth_quality_start(const char *text, size_t len);
/* Share of letters in the target language after NFKD and case folding: ja counts kana and
 * kanji among all letters, en counts Latin letters a-z (the letter set of isynth_lang_detect).
 * "no_letters" when there is no letter at all, "wrong_language" when the share is below min_ratio
 * or, for ja, when the text has eight or more kanji and no kana at all (Chinese rather than
 * Japanese). */
const char *isynth_quality_language(const char *text, size_t len, isynth_lang lang,
                                    double min_ratio);

typedef struct isynth_quality_params {
    isynth_lang lang;      /* target language */
    size_t min_tokens;     /* ja 5, en 4 (Self-Instruct rejects 3 words or fewer) */
    size_t max_tokens;     /* ja 400, en 150 (Self-Instruct's 150 words); 0 = none */
    double min_lang_ratio; /* ja 0.3 (keeps "PythonでFizzBuzzを実装して"), en 0.6 */
} isynth_quality_params;

/* Defaults for a language, documented in docs/rouge.md. */
isynth_quality_params isynth_quality_params_default(isynth_lang lang);

/* Runs the filters in the order invalid_utf8, start, length, keywords (skipped when kw is
 * NULL), language; returns the first reason or NULL when the text passes. */
const char *isynth_quality_check(const isynth_quality_params *p, const isynth_keywords *kw,
                                 const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
