/* The UTF-8 validator that guards every cell, seed and reply, and utf8_seq_len under it: both must
 * agree with a decoder written from the definition (shortest form, no surrogates, at most
 * U+10FFFF, no NUL) on every sequence of one to three bytes, on every four-byte lead, and on
 * random strings whose ASCII runs cross the eight-byte fast path; the validator must name the
 * offset of the first bad byte. Also util.c's U+FFFD sanitiser and growable arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

/* Reference: decode by counting leading ones, then judge the code point. Returns the sequence's
 * length, or 0 if it is not well formed. Deliberately unlike the validator's range table. */
static size_t ref_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    size_t len = 0;
    while (len < 8 && (c & (0x80 >> len)))
        len++;
    if (len < 2 || len > 4 || n < len) return 0;
    uint32_t cp = c & (0xFFu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static bool ref_valid(const unsigned char *s, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n;) {
        size_t l = ref_seq(s + i, n - i);
        if (!l) {
            *bad = i;
            return false;
        }
        i += l;
    }
    return true;
}

static void check(const unsigned char *s, size_t n)
{
    /* the single-sequence decoder, on the first sequence (NUL is one byte there) */
    if (n && s[0]) assert_int_equal(utf8_seq_len(s, n), ref_seq(s, n));
    size_t bad_ref = (size_t)-1, bad = (size_t)-1;
    bool want = ref_valid(s, n, &bad_ref);
    bool got = utf8_valid((const char *)s, n, &bad);
    if (got != want) fail_msg("length %zu: validator says %d, reference %d", n, got, want);
    if (!want) assert_int_equal(bad, bad_ref);
}

/* Every sequence of one, two and three bytes, alone and after a 13-byte ASCII run (so that the
 * eight-byte path hands over mid-buffer), followed by ASCII or truncated. */
static void test_exhaustive_short(void **state)
{
    (void)state;
    unsigned char b[32];
    memset(b, 'a', sizeof b);
    for (uint32_t v = 0; v < 0x1000000; v++) {
        unsigned char x[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
        check(x, 3);
        memcpy(b + 13, x, 3);
        check(b, 16);
        if ((v & 0xFFFF) == 0) {
            check(x, 1);
            check(b, 14);
        }
        if ((v & 0xFF) == 0) {
            check(x, 2);
            check(b, 15);
        }
    }
}

/* Every four-byte sequence with a lead of F0..F7, any second byte, a third byte around the
 * continuation range and a last byte at its edges; then every lead with edge bytes after it. */
static void test_four_bytes(void **state)
{
    (void)state;
    static const unsigned char last[] = {0x7F, 0x80, 0xBF, 0xC0};
    for (uint32_t lead = 0xF0; lead <= 0xF7; lead++)
        for (uint32_t b1 = 0; b1 < 256; b1++)
            for (uint32_t b2 = 0x70; b2 < 0xD0; b2++)
                for (size_t k = 0; k < sizeof last; k++) {
                    unsigned char x[4] = {(unsigned char)lead, (unsigned char)b1, (unsigned char)b2,
                                          last[k]};
                    check(x, 4);
                    check(x, 3);
                }
    static const unsigned char edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0};
    for (uint32_t lead = 0; lead < 256; lead++)
        for (size_t i = 0; i < sizeof edges; i++)
            for (size_t j = 0; j < sizeof edges; j++) {
                unsigned char x[4] = {(unsigned char)lead, edges[i], edges[j], 0x80};
                check(x, 4);
            }
}

/* Random strings built from ASCII runs of random length, valid characters of every width, and
 * the occasional bad byte or NUL, at every alignment. */
static void test_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {"日本語",          "é", "😀", "ｱ", "\xEF\xBF\xBF",
                                         "\xF4\x8F\xBF\xBF"};
    srand(12345);
    unsigned char s[512];
    for (int round = 0; round < 200000; round++) {
        size_t n = 0;
        while (n < 400) {
            int r = rand() % 100;
            if (r < 60) {
                size_t k = (size_t)(rand() % 24);
                for (size_t i = 0; i < k; i++)
                    s[n++] = (unsigned char)(0x20 + rand() % 95);
            } else if (r < 98) {
                const char *p = pieces[rand() % 6];
                size_t k = strlen(p);
                memcpy(s + n, p, k);
                n += k;
            } else {
                s[n++] = (unsigned char)(rand() % 256);
            }
        }
        size_t start = (size_t)(rand() % 9);
        check(s + start, n - start);
        check(s + start, (size_t)rand() % (n - start + 1));
    }
}

/* The one U+FFFD sanitiser: invalid bytes and NUL each become U+FFFD, valid text is kept byte
 * for byte; with text_lines (the parser's use) line ends become LF and a BOM is dropped, without
 * it (the pipeline's) they stay. */
static void test_scrub(void **state)
{
    (void)state;
    static const char in[] = "\xEF\xBB\xBF"
                             "a\r\nb\rc\0d\xFF\xC3\xA9\xE6\x97\xA5\xE3\x81";
    size_t n = sizeof in - 1;
    char out[64];
    size_t len = utf8_scrub(in, n, NULL, true);
    assert_int_equal(utf8_scrub(in, n, out, true), len);
    static const char lines[] = "a\nb\nc\xEF\xBF\xBD"
                                "d\xEF\xBF\xBD\xC3\xA9\xE6\x97\xA5"
                                "\xEF\xBF\xBD\xEF\xBF\xBD";
    assert_int_equal(len, sizeof lines - 1);
    assert_memory_equal(out, lines, len);
    assert_true(utf8_valid(out, len, NULL));

    size_t clen = 0;
    char *clean = utf8_sanitize(in, n, &clen);
    assert_non_null(clean);
    static const char kept[] = "\xEF\xBB\xBF"
                               "a\r\nb\rc\xEF\xBF\xBD"
                               "d\xEF\xBF\xBD\xC3\xA9"
                               "\xE6\x97\xA5\xEF\xBF\xBD\xEF\xBF\xBD";
    assert_int_equal(clen, sizeof kept - 1);
    assert_memory_equal(clean, kept, clen);
    assert_int_equal(clean[clen], '\0');
    assert_true(utf8_valid(clean, clen, NULL));
    isynth_free(clean);

    clean = utf8_sanitize("", 0, &clen);
    assert_non_null(clean);
    assert_int_equal(clen, 0);
    isynth_free(clean);
}

/* util.c's growable arrays: ARRAY_GROW doubles from `first` and keeps the contents;
 * ARRAY_RESIZE to a size past SIZE_MAX bytes and a failed allocation both give
 * ISYNTH_ERR_NOMEM with the array and its cap unchanged. */
static void test_array_grow(void **state)
{
    (void)state;
    uint64_t *a = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t i = 0; i < 100; i++) {
        if (n == cap) assert_int_equal(ARRAY_GROW(a, cap, 8), ISYNTH_OK);
        a[n++] = i * i;
    }
    assert_int_equal(cap, 128); /* 8, 16, 32, 64, 128 */
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(a[i], i * i);
    uint64_t *before = a;
    assert_int_equal(ARRAY_RESIZE(a, SIZE_MAX / 4), ISYNTH_ERR_NOMEM);
    assert_ptr_equal(a, before);
    isynth_alloc_fail_at(1, false);
    assert_int_equal(ARRAY_GROW(a, cap, 8), ISYNTH_ERR_NOMEM);
    isynth_alloc_fail_at(0, false);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 128);
    assert_int_equal(a[99], 99 * 99);
    assert_int_equal(array_next_cap(SIZE_MAX / 2 + 1, 8), SIZE_MAX);
    isynth_free(a);
}

/* task.c's task_init: copies of the strings, NULL input and output as "", no id when given
 * none, eval_aspect ""; each failed allocation gives ISYNTH_ERR_NOMEM and an empty task. */
static void test_task_init(void **state)
{
    (void)state;
    char instruction[] = "Name a colour.";
    isynth_task t;
    assert_int_equal(task_init(&t, "g7", instruction, NULL, NULL), ISYNTH_OK);
    assert_string_equal(t.id, "g7");
    assert_true(t.instruction != instruction);
    assert_string_equal(t.instruction, "Name a colour.");
    assert_string_equal(t.input, "");
    assert_string_equal(t.output, "");
    assert_string_equal(t.eval_aspect, "");
    isynth_task_clear(&t);
    assert_int_equal(task_init(&t, NULL, "i", "in", "out"), ISYNTH_OK);
    assert_null(t.id);
    assert_string_equal(t.input, "in");
    assert_string_equal(t.output, "out");
    isynth_task_clear(&t);
    for (long n = 1; n <= 5; n++) {
        isynth_alloc_fail_at(n, false);
        isynth_err rc = task_init(&t, "s1", "i", "in", "out");
        isynth_alloc_fail_at(0, false);
        assert_int_equal(rc, ISYNTH_ERR_NOMEM);
        assert_null(t.id);
        assert_null(t.instruction);
        assert_null(t.input);
        assert_null(t.output);
        assert_null(t.eval_aspect);
    }
    assert_int_equal(task_init(&t, NULL, NULL, "in", "out"), ISYNTH_ERR_NOMEM);
}

/* json_next_mark: brackets, braces and commas inside strings (escaped quotes included) are
 * skipped; a string cut by the end of the text, or an escape at its very end, ends the scan. */
static void test_json_next_mark(void **state)
{
    (void)state;
    static const char s[] = "{\"a[\\\"}\": [1, \"}\"]}";
    size_t n = sizeof s - 1;
    char marks[16] = "";
    size_t k = 0;
    for (size_t i = json_next_mark(s, n, 0); i < n; i = json_next_mark(s, n, i + 1))
        marks[k++] = s[i];
    assert_string_equal(marks, "{[,]}");
    assert_int_equal(json_next_mark("\"abc", 4, 0), 4);
    assert_int_equal(json_next_mark("\"ab\\", 4, 0), 4);
    assert_int_equal(json_next_mark("x", 1, 0), 1);
}

/* The model fingerprint: the whole file's SHA-256 with edge 0; with an edge, the size and the
 * two ends only (a byte changed in the middle of a large file is not seen, one at either end
 * is), and a file of two edges or less hashed whole. */
static void test_file_edges(void **state)
{
    (void)state;
    char path[] = "/tmp/isynth-edges-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("abc", 1, 3, f), 3);
    fclose(f);
    char h[65], h2[65];
    isynth_error e;
    assert_int_equal(sha256_file_edges_hex(path, 0, h, &e), ISYNTH_OK);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* "3\nabc": the size line, then the whole (short) file */
    assert_int_equal(sha256_file_edges_hex(path, 2, h, &e), ISYNTH_OK);
    char expect[65];
    sha256_hex("3\nabc", 5, expect);
    assert_string_equal(h, expect);
    /* 100 bytes, edges of 10: a change at byte 50 is unseen, at byte 95 or 5 it is seen */
    char data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (char)('a' + i % 26);
    const int at[] = {-1, 50, 95, 5};
    for (int k = 0; k < 4; k++) {
        char d[100];
        memcpy(d, data, sizeof d);
        if (at[k] >= 0) d[at[k]] ^= 1;
        f = fopen(path, "wb");
        assert_int_equal(fwrite(d, 1, sizeof d, f), sizeof d);
        fclose(f);
        assert_int_equal(sha256_file_edges_hex(path, 10, k ? h2 : h, &e), ISYNTH_OK);
        if (k == 1) assert_string_equal(h, h2);
        if (k >= 2) assert_string_not_equal(h, h2);
    }
    unlink(path);
    assert_int_equal(sha256_file_edges_hex(path, 10, h, &e), ISYNTH_ERR_IO);
    assert_non_null(strstr(e.msg, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exhaustive_short), cmocka_unit_test(test_four_bytes),
        cmocka_unit_test(test_random),           cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_array_grow),       cmocka_unit_test(test_json_next_mark),
        cmocka_unit_test(test_task_init),        cmocka_unit_test(test_file_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
