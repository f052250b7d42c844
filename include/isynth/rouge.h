/* Japanese-correct near-duplicate detection: tokenisers that turn text into integer ids,
 * exact ROUGE-L (rouge-score's `_score_lcs` F-measure) with a bit-parallel LCS, and a
 * similarity index that finds the exact nearest neighbour of a text among a growing pool. */
#ifndef ISYNTH_ROUGE_H
#define ISYNTH_ROUGE_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Tokenisers ------------------------------------------------------------------------- */

typedef enum isynth_tokenizer_kind {
    /* NFKC + case folding; each kanji, hiragana and katakana character is one token, runs of
     * other letters, digits and combining marks are one word; punctuation, symbols and spaces
     * are dropped. The default. */
    ISYNTH_TOKENIZER_CHARS = 0,
    /* rouge-score's own tokenizer without stemming: lower-case, every character outside
     * [a-z0-9] separates words. Japanese gives no tokens at all; for English parity only. */
    ISYNTH_TOKENIZER_WORDS = 1,
    /* NFKC + case folding, then MeCab (system dictionary, IPAdic on Debian) word surfaces;
     * tokens made only of punctuation, symbols or spaces are dropped. */
    ISYNTH_TOKENIZER_MECAB = 2,
} isynth_tokenizer_kind;

typedef struct isynth_tokenizer isynth_tokenizer;

/* Parses "chars", "words" or "mecab" into *kind; ISYNTH_ERR_INVALID otherwise. */
isynth_err isynth_tokenizer_kind_from_name(const char *name, isynth_tokenizer_kind *kind);
/* Static name of a kind ("chars", "words", "mecab"). */
const char *isynth_tokenizer_kind_name(isynth_tokenizer_kind kind);

/* Creates a tokenizer with an empty vocabulary; free with isynth_tokenizer_free().
 * ISYNTH_ERR_NOT_FOUND for mecab when isynth was built without MeCab or no dictionary loads. */
isynth_err isynth_tokenizer_new(isynth_tokenizer_kind kind, isynth_tokenizer **out,
                                isynth_error *err);
/* Frees the tokenizer and its vocabulary; NULL-safe. */
void isynth_tokenizer_free(isynth_tokenizer *tok);

/* Largest input isynth_tokenize accepts, in bytes. */
#define ISYNTH_TOKENIZE_MAX_BYTES ((size_t)16 << 20)

/* Tokenises text[0..len) (valid UTF-8 without NUL, else ISYNTH_ERR_UTF8 naming the offset)
 * into token ids, adding unseen tokens to the vocabulary. *ids is allocated for the caller
 * (free with isynth_free; NULL when *n is 0). A tokenizer is not thread-safe. */
isynth_err isynth_tokenize(isynth_tokenizer *tok, const char *text, size_t len, uint32_t **ids,
                           size_t *n, isynth_error *err);
/* Number of distinct tokens seen so far; ids are 0..size-1. */
size_t isynth_tokenizer_vocab_size(const isynth_tokenizer *tok);
/* The UTF-8 text of token `id` (not NUL-terminated, length in *len), owned by the tokenizer and
 * valid until its next isynth_tokenize call; NULL for an unknown id. */
const char *isynth_tokenizer_token(const isynth_tokenizer *tok, uint32_t id, size_t *len);

/* Number of tokens the chars tokenizer gives for text (valid UTF-8 assumed), computed without
 * allocating and without touching any vocabulary: for length filters. */
size_t isynth_chars_token_count(const char *text, size_t len);

/* ---- ROUGE-L ---------------------------------------------------------------------------- */

/* rouge-score's `_score_lcs(target, prediction).fmeasure`, bit for bit: P = lcs/len(pred),
 * R = lcs/len(target), F = 2*P*R/(P+R); 0 when either side is empty or the LCS is 0. F is
 * symmetric, so the argument order does not matter. Allocates nothing while the shorter side
 * has at most 256 tokens; past that it returns -1.0 if scratch memory cannot be allocated. */
double isynth_rouge_l_f(const uint32_t *a, size_t m, const uint32_t *b, size_t n);

/* The same F-measure from an LCS length and the two sequence lengths. */
double isynth_rouge_l_f_from_lcs(size_t lcs, size_t m, size_t n);

/* Length of the longest common subsequence (bit-parallel, Hyyro 2004) into *lcs. */
isynth_err isynth_lcs_length(const uint32_t *a, size_t m, const uint32_t *b, size_t n, size_t *lcs);

/* Smallest LCS length l with isynth_rouge_l_f_from_lcs(l, m, n) >= threshold (exact, with the
 * same floating-point formula); min(m, n) + 1 when no l reaches it. For threshold <= 0 gives 1
 * (a positive score). Every bound in this module compares against this integer. */
size_t isynth_rouge_l_min_lcs(size_t m, size_t n, double threshold);

/* Upper bounds on the LCS of two sequences, both exact (never below the true LCS):
 * the length bound min(m, n) and the multiset-intersection bound. */
size_t isynth_lcs_bound_multiset(const uint32_t *a, size_t m, const uint32_t *b, size_t n);

/* A prepared pattern: the bit vectors of one sequence, to compare it against many others (what
 * the index does per query). Reuse it with isynth_rouge_pattern_set. */
typedef struct isynth_rouge_pattern isynth_rouge_pattern;
/* Creates an empty pattern; free with isynth_rouge_pattern_free. */
isynth_err isynth_rouge_pattern_new(isynth_rouge_pattern **out, isynth_error *err);
/* Builds the match vectors of a[0..m) (any uint32 ids; at most ISYNTH_SIM_MAX_TOKENS); the
 * caller keeps `a`. Reuses the pattern's memory. */
isynth_err isynth_rouge_pattern_set(isynth_rouge_pattern *p, const uint32_t *a, size_t m,
                                    isynth_error *err);
/* LCS of the pattern with b[0..n); allocates nothing. Not thread-safe (scratch inside). */
size_t isynth_rouge_pattern_lcs(const isynth_rouge_pattern *p, const uint32_t *b, size_t n);
/* ROUGE-L F of the pattern with b[0..n); allocates nothing. */
double isynth_rouge_pattern_f(const isynth_rouge_pattern *p, const uint32_t *b, size_t n);
/* NULL-safe. */
void isynth_rouge_pattern_free(isynth_rouge_pattern *p);

/* ---- Similarity index ------------------------------------------------------------------- */

/* A growing pool of tokenised texts (seeds and generated tasks alike) with an inverted index on
 * (token, occurrence) elements. Queries find the exact ROUGE-L nearest neighbour: pairs are
 * skipped only when an exact upper bound (length, prefix/count filter, multiset intersection,
 * the current best) proves they cannot reach the threshold or beat the best; every score
 * reported is computed exactly. */
typedef struct isynth_sim_index isynth_sim_index;

/* Creates an empty index that tokenises with `tok`, which it borrows: `tok` must outlive the
 * index and is used (its vocabulary grows) by add and query calls; it may be NULL when only the
 * *_tokens functions are used. Free with isynth_sim_index_free. */
isynth_err isynth_sim_index_new(isynth_tokenizer *tok, isynth_sim_index **out, isynth_error *err);
/* NULL-safe. */
void isynth_sim_index_free(isynth_sim_index *idx);

/* Largest number of tokens of one indexed or queried text (also of a prepared pattern): a
 * query's match vectors take up to distinct-tokens x tokens/64 words, 32 MiB at this size. */
#define ISYNTH_SIM_MAX_TOKENS ((size_t)16384)

/* Tokenises text and adds it under the caller's id (ids need not be unique or ordered; the
 * index reports them back). The index keeps its own copy of the tokens. */
isynth_err isynth_sim_index_add(isynth_sim_index *idx, int64_t id, const char *text, size_t len,
                                isynth_error *err);
/* Adds an already tokenised text (ids from the index's tokenizer, or any ids below 2^24 when
 * every text in the index is added this way); the caller keeps `ids`. */
isynth_err isynth_sim_index_add_tokens(isynth_sim_index *idx, int64_t id, const uint32_t *ids,
                                       size_t n, isynth_error *err);

/* Exact nearest neighbour of text among everything added, by ROUGE-L F. Pairs scoring below
 * min_score may be skipped: when the best score is >= min_score (and > 0), *nn_id and *nn_score
 * are the exact best (ties go to the item added first); otherwise *nn_id = -1 and *nn_score = 0.
 * Pass min_score = 0 to always get the exact nearest neighbour (slower: nothing is pruned by
 * the threshold, only by the best so far). Allocates only to grow the index's scratch. */
isynth_err isynth_sim_index_nearest(isynth_sim_index *idx, const char *text, size_t len,
                                    double min_score, int64_t *nn_id, double *nn_score,
                                    isynth_error *err);
isynth_err isynth_sim_index_nearest_tokens(isynth_sim_index *idx, const uint32_t *ids, size_t n,
                                           double min_score, int64_t *nn_id, double *nn_score,
                                           isynth_error *err);
/* The same, leaving out the item added with id except_id (an evolved task's parent, which it
 * is meant to resemble). */
isynth_err isynth_sim_index_nearest_except_tokens(isynth_sim_index *idx, const uint32_t *ids,
                                                  size_t n, double min_score, int64_t except_id,
                                                  int64_t *nn_id, double *nn_score,
                                                  isynth_error *err);
/* Faster test for dedup: stops at the first item (in the order the filter meets them) whose
 * exact score is >= threshold and reports it in *hit_id and *hit_score; -1 and 0 when none. */
isynth_err isynth_sim_index_any_at_least(isynth_sim_index *idx, const char *text, size_t len,
                                         double threshold, int64_t *hit_id, double *hit_score,
                                         isynth_error *err);
isynth_err isynth_sim_index_any_at_least_tokens(isynth_sim_index *idx, const uint32_t *ids,
                                                size_t n, double threshold, int64_t *hit_id,
                                                double *hit_score, isynth_error *err);

/* Counters since creation, for benchmarks and tests. */
typedef struct isynth_sim_stats {
    uint64_t queries;
    uint64_t postings_visited; /* inverted-list entries read */
    uint64_t candidates;       /* items met in the probed lists that passed the length filter */
    uint64_t pruned_count;     /* skipped by the count (prefix) bound */
    uint64_t pruned_multiset;  /* skipped by the multiset-intersection bound */
    uint64_t pruned_best;      /* skipped because they could not beat the best so far */
    uint64_t lcs_computed;     /* exact LCS evaluations */
} isynth_sim_stats;
/* Copies the counters into *st. */
void isynth_sim_index_stats(const isynth_sim_index *idx, isynth_sim_stats *st);
/* Number of items added. */
size_t isynth_sim_index_size(const isynth_sim_index *idx);
/* Bytes held by the index (items, inverted lists, scratch), not counting the tokenizer. */
size_t isynth_sim_index_memory(const isynth_sim_index *idx);

#ifdef __cplusplus
}
#endif
#endif
