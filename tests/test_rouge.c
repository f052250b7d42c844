/* ROUGE-L and the similarity index: the bit-parallel LCS against a naive dynamic programme, the
 * integer thresholds, the bounds never skipping a pair that reaches the threshold, exact
 * nearest neighbours, a near-copy of a Japanese seed being caught, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "isynth/rouge.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static size_t naive_lcs(const uint32_t *a, size_t m, const uint32_t *b, size_t n)
{
    size_t *row = calloc(n + 1, sizeof *row);
    for (size_t i = 1; i <= m; i++) {
        size_t diag = 0;
        for (size_t j = 1; j <= n; j++) {
            size_t up = row[j];
            row[j] = a[i - 1] == b[j - 1] ? diag + 1 : (row[j - 1] > up ? row[j - 1] : up);
            diag = up;
        }
    }
    size_t r = row[n];
    free(row);
    return r;
}

/* rouge-score's _score_lcs, written out as in Python */
static double py_f(size_t lcs, size_t m, size_t n)
{
    if (m == 0 || n == 0) return 0;
    double precision = (double)lcs / (double)n, recall = (double)lcs / (double)m;
    if (precision + recall > 0) return 2 * precision * recall / (precision + recall);
    return 0.0;
}

static void fill(uint32_t *a, size_t m, uint32_t alpha)
{
    for (size_t i = 0; i < m; i++)
        a[i] = rnd(alpha);
}

static void test_lcs_vs_naive(void **state)
{
    (void)state;
    static const size_t edge[] = {0, 1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 256, 257, 300};
    static const uint32_t alphas[] = {2, 3, 4, 5, 8, 26, 100, 1000, 5000};
    uint32_t a[300], b[300];
    isynth_rouge_pattern *p;
    assert_int_equal(isynth_rouge_pattern_new(&p, NULL), ISYNTH_OK);
    size_t trials = 0;
    for (int round = 0; round < 2600; round++) {
        size_t m, n;
        if (round < 15 * 15) {
            m = edge[round / 15];
            n = edge[round % 15];
        } else {
            m = rnd(301);
            n = rnd(301);
        }
        uint32_t alpha = round < 225 ? alphas[round % 9] : 2 + rnd(4999);
        fill(a, m, alpha);
        fill(b, n, alpha);
        if (round % 5 == 1) /* ids past the dense table take the hashed path */
            for (size_t i = 0; i < 300; i++) {
                a[i] += i < m ? 1u << 20 : 0;
                b[i] += i < n ? 1u << 20 : 0;
            }
        if (round % 7 == 0 && m && n) /* make b share a long run with a */
            for (size_t i = 0; i < n && i < m; i++)
                if (rnd(4)) b[i] = a[i];
        size_t want = naive_lcs(a, m, b, n), got;
        assert_int_equal(isynth_lcs_length(a, m, b, n, &got), ISYNTH_OK);
        assert_int_equal(got, want);
        assert_int_equal(isynth_lcs_length(b, n, a, m, &got), ISYNTH_OK);
        assert_int_equal(got, want);
        double f = isynth_rouge_l_f(a, m, b, n);
        assert_true(f == py_f(want, m, n)); /* exact, not approximately */
        assert_true(isynth_rouge_l_f(b, n, a, m) == f);
        assert_int_equal(isynth_rouge_pattern_set(p, a, m, NULL), ISYNTH_OK);
        assert_int_equal(isynth_rouge_pattern_lcs(p, b, n), want);
        assert_true(isynth_rouge_pattern_f(p, b, n) == f);
        size_t ms = isynth_lcs_bound_multiset(a, m, b, n);
        assert_true(ms >= want);
        assert_true(ms <= (m < n ? m : n));
        trials++;
    }
    isynth_rouge_pattern_free(p);
    assert_int_equal(trials, 2600);
}

static void test_long_sequences(void **state)
{
    (void)state;
    /* past the 256-token stack path and across many words */
    size_t m = 1500, n = 1200;
    uint32_t *a = malloc(m * sizeof *a), *b = malloc(n * sizeof *b);
    fill(a, m, 40);
    fill(b, n, 40);
    size_t got;
    assert_int_equal(isynth_lcs_length(a, m, b, n, &got), ISYNTH_OK);
    assert_int_equal(got, naive_lcs(a, m, b, n));
    assert_true(isynth_rouge_l_f(a, m, b, n) == py_f(got, m, n));
    free(a);
    free(b);
}

static void test_identity_and_empty(void **state)
{
    (void)state;
    uint32_t a[5] = {1, 2, 3, 4, 5};
    assert_true(isynth_rouge_l_f(a, 5, a, 5) == 1.0);
    assert_true(isynth_rouge_l_f(a, 0, a, 5) == 0.0);
    assert_true(isynth_rouge_l_f(a, 5, NULL, 0) == 0.0);
    uint32_t b[3] = {9, 8, 7};
    assert_true(isynth_rouge_l_f(a, 5, b, 3) == 0.0);
}

static void test_min_lcs_exact(void **state)
{
    (void)state;
    static const double ts[] = {0.05, 0.1, 1.0 / 3, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 0.95, 1.0};
    for (size_t m = 1; m <= 160; m++)
        for (size_t n = 1; n <= 160; n++)
            for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) {
                size_t want = (m < n ? m : n) + 1;
                for (size_t l = 1; l <= (m < n ? m : n); l++)
                    if (py_f(l, m, n) >= ts[k]) {
                        want = l;
                        break;
                    }
                assert_int_equal(isynth_rouge_l_min_lcs(m, n, ts[k]), want);
            }
    /* scores exactly at the threshold: 0.7 reached by l = 7 of m = n = 10 */
    assert_true(py_f(7, 10, 10) >= 0.7);
    assert_int_equal(isynth_rouge_l_min_lcs(10, 10, 0.7), 7);
    assert_int_equal(isynth_rouge_l_min_lcs(10, 10, 0.0), 1);
    assert_int_equal(isynth_rouge_l_min_lcs(10, 10, 1.5), 11);
}

/* The bounds test: for every query, the index's answer equals brute force over all items, at
 * several thresholds, on corpora full of near-duplicates so many pairs sit at the threshold. */
typedef struct corpus {
    uint32_t **seq;
    size_t *len;
    size_t n;
} corpus;

static corpus make_corpus(size_t n, uint32_t alpha, size_t maxlen)
{
    corpus c = {calloc(n, sizeof(uint32_t *)), calloc(n, sizeof(size_t)), n};
    for (size_t i = 0; i < n; i++) {
        size_t len = 1 + rnd((uint32_t)maxlen);
        c.seq[i] = malloc((maxlen + 8) * sizeof(uint32_t));
        if (i > 0 && rnd(3) == 0) { /* a mutation of an earlier item */
            size_t src = rnd((uint32_t)i), k = 0;
            for (size_t j = 0; j < c.len[src] && k < maxlen + 4; j++) {
                uint32_t op = rnd(10);
                if (op == 0) continue;                                /* delete */
                if (op == 1) c.seq[i][k++] = rnd(alpha);              /* insert */
                c.seq[i][k++] = op == 2 ? rnd(alpha) : c.seq[src][j]; /* substitute or keep */
            }
            len = k ? k : 1;
            if (!k) c.seq[i][0] = rnd(alpha);
        } else {
            fill(c.seq[i], len, alpha);
        }
        c.len[i] = len;
    }
    return c;
}

static void free_corpus(corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->seq[i]);
    free(c->seq);
    free(c->len);
}

static void brute_nearest(const corpus *c, size_t upto, const uint32_t *q, size_t m, double t,
                          int64_t *id, double *score)
{
    *id = -1;
    *score = 0;
    double best = t;
    for (size_t i = 0; i < upto; i++) {
        double f = isynth_rouge_l_f(q, m, c->seq[i], c->len[i]);
        if (f > 0 && f >= t && (*id < 0 || f > best)) {
            *id = (int64_t)i;
            best = f;
        }
    }
    if (*id >= 0) *score = best;
}

static void check_index(uint32_t alpha, size_t maxlen, size_t n)
{
    corpus c = make_corpus(n, alpha, maxlen);
    isynth_sim_index *idx;
    assert_int_equal(isynth_sim_index_new(NULL, &idx, NULL), ISYNTH_OK);
    static const double ts[] = {0.0, 0.3, 0.5, 0.7, 0.8, 0.9};
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        /* query item i against items 0..i-1, then add it */
        for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) {
            int64_t id, bid;
            double s, bs;
            assert_int_equal(
                isynth_sim_index_nearest_tokens(idx, c.seq[i], c.len[i], ts[k], &id, &s, NULL),
                ISYNTH_OK);
            brute_nearest(&c, i, c.seq[i], c.len[i], ts[k], &bid, &bs);
            assert_int_equal(id, bid);
            assert_true(s == bs);
            hits += id >= 0;
            int64_t aid;
            double as;
            assert_int_equal(isynth_sim_index_any_at_least_tokens(idx, c.seq[i], c.len[i], ts[k],
                                                                  &aid, &as, NULL),
                             ISYNTH_OK);
            assert_int_equal(aid >= 0, bid >= 0);
            if (aid >= 0) { /* the hit's reported score is that pair's exact score */
                assert_true(as >= ts[k]);
                assert_true(as == isynth_rouge_l_f(c.seq[i], c.len[i], c.seq[aid], c.len[aid]));
            }
        }
        assert_int_equal(isynth_sim_index_add_tokens(idx, (int64_t)i, c.seq[i], c.len[i], NULL),
                         ISYNTH_OK);
    }
    assert_true(hits > n / 2);
    isynth_sim_stats st;
    isynth_sim_index_stats(idx, &st);
    assert_true(st.lcs_computed > 0);
    isynth_sim_index_free(idx);
    free_corpus(&c);
}

static void test_index_bounds_never_skip(void **state)
{
    (void)state;
    check_index(4, 20, 250);    /* tiny alphabet: every pair shares symbols */
    check_index(30, 70, 300);   /* crosses 64 tokens */
    check_index(500, 150, 250); /* crosses 128 tokens, sparse overlap */
}

/* A near-copy of a Japanese seed is rejected; rouge-score's own tokenizer would let it pass. */
static void test_japanese_near_copy_rejected(void **state)
{
    (void)state;
    static const char *seeds[] = {
        "次の文章を読んで、筆者の主張を三行で要約してください。",
        "日本の四季について、小学生にも分かるように説明してください。",
        "以下の英文を自然な日本語に翻訳してください。",
        "健康的な朝ごはんの献立を一週間分考えてください。",
    };
    const char *near = "次の文章を読み、筆者の主張を3行で要約して下さい。";
    const char *other = "好きな季節とその理由を、友達に話すような口調で書いてください。";
    isynth_tokenizer *tok;
    isynth_sim_index *idx;
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &tok, NULL), ISYNTH_OK);
    assert_int_equal(isynth_sim_index_new(tok, &idx, NULL), ISYNTH_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(isynth_sim_index_add(idx, 100 + i, seeds[i], strlen(seeds[i]), NULL),
                         ISYNTH_OK);
    int64_t id;
    double s;
    assert_int_equal(isynth_sim_index_nearest(idx, near, strlen(near), 0.0, &id, &s, NULL),
                     ISYNTH_OK);
    assert_int_equal(id, 100);
    assert_true(s >= 0.7);
    assert_int_equal(isynth_sim_index_any_at_least(idx, near, strlen(near), 0.7, &id, &s, NULL),
                     ISYNTH_OK);
    assert_int_equal(id, 100);
    /* a different task is kept, but its nearest neighbour is still reported exactly */
    assert_int_equal(isynth_sim_index_nearest(idx, other, strlen(other), 0.0, &id, &s, NULL),
                     ISYNTH_OK);
    assert_true(id >= 100 && s < 0.7 && s > 0.0);
    assert_int_equal(isynth_sim_index_nearest(idx, other, strlen(other), 0.7, &id, &s, NULL),
                     ISYNTH_OK);
    assert_int_equal(id, -1);
    isynth_sim_index_free(idx);
    isynth_tokenizer_free(tok);

    /* rouge-score's tokenizer sees no tokens in Japanese, so it scores 0 */
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_WORDS, &tok, NULL), ISYNTH_OK);
    uint32_t *ids;
    size_t n;
    assert_int_equal(isynth_tokenize(tok, near, strlen(near), &ids, &n, NULL), ISYNTH_OK);
    assert_int_equal(n, 1); /* only the "3" survives */
    isynth_free(ids);
    isynth_tokenizer_free(tok);
}

static void test_index_errors(void **state)
{
    (void)state;
    isynth_tokenizer *tok;
    isynth_sim_index *idx;
    isynth_error err;
    assert_int_equal(isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &tok, NULL), ISYNTH_OK);
    assert_int_equal(isynth_sim_index_new(tok, &idx, NULL), ISYNTH_OK);
    assert_int_equal(isynth_sim_index_add(idx, 1, "ab\xff", 3, &err), ISYNTH_ERR_UTF8);
    assert_non_null(strstr(err.msg, "offset 2"));
    uint32_t big = 1u << 30;
    assert_int_equal(isynth_sim_index_add_tokens(idx, 1, &big, 1, &err), ISYNTH_ERR_INVALID);
    int64_t id = 5;
    double s = 5;
    assert_int_equal(isynth_sim_index_nearest(idx, "", 0, 0.7, &id, &s, NULL), ISYNTH_OK);
    assert_int_equal(id, -1);
    assert_true(s == 0.0);
    assert_int_equal(isynth_sim_index_size(idx), 0);
    isynth_sim_index_free(idx);
    isynth_sim_index_free(NULL);
    isynth_tokenizer_free(tok);
}

/* Fails each allocation in turn over building an index and querying it. */
static void test_alloc_failures(void **state)
{
    (void)state;
    static const char *texts[] = {"次の文章を要約してください。", "Write a haiku about autumn.",
                                  "次の文章を短く要約してください。", "秋についての俳句を作って"};
    for (long k = 1; k < 400; k++) {
        isynth_tokenizer *tok = NULL;
        isynth_sim_index *idx = NULL;
        isynth_alloc_fail_at(k, false);
        isynth_err rc = isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &tok, NULL);
        if (!rc) rc = isynth_sim_index_new(tok, &idx, NULL);
        size_t added = 0;
        for (int i = 0; !rc && i < 4; i++) {
            int64_t id;
            double s;
            rc = isynth_sim_index_nearest(idx, texts[i], strlen(texts[i]), 0.0, &id, &s, NULL);
            if (!rc) rc = isynth_sim_index_add(idx, i, texts[i], strlen(texts[i]), NULL);
            if (!rc) added++;
        }
        long used = isynth_alloc_fail_at(0, false);
        if (rc) assert_int_equal(rc, ISYNTH_ERR_NOMEM);
        if (idx) { /* whatever failed, the index still answers correctly for what it holds */
            assert_int_equal(isynth_sim_index_size(idx), added);
            int64_t id;
            double s;
            assert_int_equal(
                isynth_sim_index_nearest(idx, texts[0], strlen(texts[0]), 0.0, &id, &s, NULL),
                ISYNTH_OK);
            if (added >= 1) {
                assert_int_equal(id, 0);
                assert_true(s == 1.0);
            }
        }
        isynth_sim_index_free(idx);
        isynth_tokenizer_free(tok);
        if (!rc && used < k) break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lcs_vs_naive),
        cmocka_unit_test(test_long_sequences),
        cmocka_unit_test(test_identity_and_empty),
        cmocka_unit_test(test_min_lcs_exact),
        cmocka_unit_test(test_index_bounds_never_skip),
        cmocka_unit_test(test_japanese_near_copy_rejected),
        cmocka_unit_test(test_index_errors),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
