/* Library-internal helpers shared by the modules of src/: a growable byte buffer with a hard
 * cap (curl's dynbuf), UTF-8 checks, bounded file reading, atomic file output and SHA-256.
 * Nothing here is public API. */
#ifndef ISYNTH_INTERNAL_H
#define ISYNTH_INTERNAL_H

#include "isynth/common.h"
#include "isynth/task.h"
#include "isynth/parse.h"
#include "isynth/rouge.h"

#include <jansson.h>
#include <stdio.h>

/* The helpers below keep their short names in the source, but their link names carry the
 * library's prefix (as zlib's Z_PREFIX does), so a program linking libisynth beside its own
 * buf_init or sha256_hex, or beside libcsv's csv_ names, has no collision (tests/symbols.sh). */
#define alloc_failures isynth__alloc_failures
#define alloc_uninjected isynth__alloc_uninjected
#define array_grow isynth__array_grow
#define array_next_cap isynth__array_next_cap
#define array_resize isynth__array_resize
#define atomic_abort isynth__atomic_abort
#define atomic_commit isynth__atomic_commit
#define atomic_open isynth__atomic_open
#define atomic_reserve isynth__atomic_reserve
#define buf_add isynth__buf_add
#define buf_error isynth__buf_error
#define buf_add_json_str isynth__buf_add_json_str
#define buf_addc isynth__buf_addc
#define buf_adds isynth__buf_adds
#define buf_free isynth__buf_free
#define buf_init isynth__buf_init
#define buf_printf isynth__buf_printf
#define buf_reserve isynth__buf_reserve
#define buf_reset isynth__buf_reset
#define buf_take isynth__buf_take
#define csv_defuse isynth__csv_defuse
#define csv_defused_quote isynth__csv_defused_quote
#define fault_point isynth__fault_point
#define fault_set_hook isynth__fault_set_hook
#define find_repeated_name isynth__find_repeated_name
#define ja_script_of isynth__ja_script_of
#define json_load_record isynth__json_load_record
#define json_next_mark isynth__json_next_mark
#define lang_tally_add isynth__lang_tally_add
#define lang_tally_lang isynth__lang_tally_lang
#define read_file_limited isynth__read_file_limited
#define sha256_file_edges_hex isynth__sha256_file_edges_hex
#define sha256_hex isynth__sha256_hex
#define sha256_tasks_hex isynth__sha256_tasks_hex
#define task_init isynth__task_init
#define uc_decompose isynth__uc_decompose
#define uc_kind_of isynth__uc_kind_of
#define utc_now isynth__utc_now
#define utf8_decode isynth__utf8_decode
#define utf8_sanitize isynth__utf8_sanitize
#define utf8_scrub isynth__utf8_scrub
#define utf8_seq_len isynth__utf8_seq_len
#define utf8_valid isynth__utf8_valid

/* A byte buffer that is always NUL-terminated once it holds anything, and refuses to grow past
 * `max` bytes (as curl's dynbuf, the maximum is required). Initialise it with buf_init(); release
 * with buf_free(). A buffer zeroed without buf_init (`buf b = {0}`) has max 0 and, like one given
 * max 0, refuses every add with ISYNTH_ERR_TOO_LARGE. */
typedef struct buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;
} buf;

/* max > 0 is required (asserted); a buffer given 0 anyway holds nothing: every add fails with
 * ISYNTH_ERR_TOO_LARGE, never unlimited. Pick max from the BUF_MAX_* caps below, or from the
 * limit of what the buffer holds. */
void buf_init(buf *b, size_t max);
void buf_free(buf *b);
void buf_reset(buf *b);
/* Appends n bytes; ISYNTH_ERR_TOO_LARGE past max, ISYNTH_ERR_NOMEM on allocation failure. */
isynth_err buf_add(buf *b, const void *p, size_t n);
isynth_err buf_adds(buf *b, const char *s);
/* Makes room for at least n more bytes (plus the NUL) without changing the contents. */
isynth_err buf_reserve(buf *b, size_t n);
isynth_err buf_addc(buf *b, char c);
isynth_err buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Gives the buffer's bytes to the caller (free with isynth_free); the buffer is emptied.
 * Returns an empty allocated string when the buffer is empty; NULL on allocation failure. */
char *buf_take(buf *b);
/* Appends s as a JSON string literal with quotes; on failure the buffer is left as it was. */
isynth_err buf_add_json_str(buf *b, const char *s, size_t n);
/* Sets err for a buf operation on b that failed with rc and returns rc: ISYNTH_ERR_TOO_LARGE
 * says "WHERE: WHAT is over the limit of MAX bytes" (no "WHERE: " when where is NULL), any other
 * code "WHERE: out of memory". */
isynth_err buf_error(isynth_error *err, isynth_err rc, const buf *b, const char *where,
                     const char *what);

/* The caps of buffers that several calls fill with the same kind of text. Each is the limit of
 * what the buffer holds, or a bound well past any real one where the thing has no limit. */
/* a file path: Linux's PATH_MAX (4096, longer paths fail to open) plus a suffix we add */
#define BUF_MAX_PATH ((size_t)4096 + 256)
/* an error or status message: a few names and a server's message, cut to a snippet */
#define BUF_MAX_MESSAGE ((size_t)64 << 10)
/* a task's instruction + "\n" + input in one run: the tokenizer reads 16 MiB at most */
#define BUF_MAX_TASK_TEXT (ISYNTH_TOKENIZE_MAX_BYTES + 1)
/* one prompt (user or completion text): ~1M tokens, past the largest context window served */
#define BUF_MAX_PROMPT ((size_t)4 << 20)
/* one model reply with its parse prefix: what the reply parser accepts */
#define BUF_MAX_REPLY ISYNTH_PARSE_MAX_INPUT
/* a grammar or schema text we generate: tens of rules, a few KiB */
#define BUF_MAX_GRAMMAR ((size_t)64 << 10)
/* a whole report page or dataset card (Markdown or HTML) */
#define BUF_MAX_PAGE ((size_t)64 << 20)

/* Growable arrays, the one way an array of src/ grows: a pointer `arr` (any object type) with
 * its room `cap` counted in elements (a size_t). ARRAY_GROW doubles the room (the first time to
 * `first` elements); ARRAY_RESIZE sets it to n elements, for arrays that grow side by side with
 * one cap (array_next_cap gives the next). Both return ISYNTH_ERR_NOMEM, leaving the array and
 * cap unchanged, when memory runs out or n elements would not fit in a size_t. Call them when
 * the array is full: `if (x->n == x->cap && ARRAY_GROW(x->items, x->cap, 64)) return nomem;`. */
size_t array_next_cap(size_t cap, size_t first);
isynth_err array_resize(void *arrp, size_t elem, size_t n);
isynth_err array_grow(void *arrp, size_t elem, size_t *cap, size_t first);
#define ARRAY_GROW(arr, cap, first) array_grow(&(arr), sizeof *(arr), &(cap), (first))
#define ARRAY_RESIZE(arr, n) array_resize(&(arr), sizeof *(arr), (n))

/* Returns the length of the valid UTF-8 sequence at s (1..4), or 0 when invalid/truncated.
 * Overlong forms, surrogates and code points past U+10FFFF are invalid. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* True when s[0..n) is valid UTF-8 with no NUL byte; on failure *bad_off gets the offset. */
bool utf8_valid(const char *s, size_t n, size_t *bad_off);

/* CSV formula defusing (OWASP's CSV injection advice). csv_defuse: the cell gets a leading '
 * when written, because a spreadsheet would run it (it starts with = + - @ TAB or CR) or
 * because it starts with ' itself. csv_defused_quote: 1 when a read field starts with such a
 * quote (followed by = + - @ TAB CR or '), which the reader drops as a spreadsheet does, else 0.
 * Together they make a CSV round trip give back every cell. */
bool csv_defuse(const char *s, size_t n);

/* Finds a repeated name among n names (lens[i] bytes each; ASCII case folded when icase) in
 * O(n log n): returns the index of the later of a repeated pair, or (size_t)-1 when all are
 * distinct or memory runs out (*nomem then true). */
size_t find_repeated_name(const char *const *names, const size_t *lens, size_t n, bool icase,
                          bool *nomem);
size_t csv_defused_quote(const char *s, size_t n);

/* The limits every JSON record (a JSONL line, an element of a JSON array) is held to before it
 * is handed to jansson, which spends about 100 bytes on each value: 1 MB of `[{},{},...]` would
 * take 50 MB, and a 60 MB line took 4.8 GB. */
#define JSON_MAX_VALUES 65536
#define JSON_MAX_DEPTH 64

/* The index of the first of { } [ ] , at or after i in s[0..n) that is outside a JSON string
 * (a string starting at or after i is skipped whole, escapes included), or n. The one scan of
 * JSON's structure without a parser: the record limits below, the judge's reply object and a
 * cut JSON reply's last complete task. i must not be inside a string. */
size_t json_next_mark(const char *s, size_t n, size_t i);

/* Parses one JSON record (a JSONL line, an element of a JSON array) at s[0..n) with jansson and
 * flags, after a byte scan that holds it to JSON_MAX_VALUES brackets and commas outside strings
 * (each container, member and element after the first of its container counts one: at least
 * the values jansson would build, at most twice) and JSON_MAX_DEPTH levels. ISYNTH_OK with *out
 * the caller's; ISYNTH_ERR_PARSE with *why a static text naming the limit passed, or with *why
 * NULL and je filled for malformed JSON; ISYNTH_ERR_NOMEM when an allocation failed, whatever
 * jansson said of it (it reports one as "malformed JSON at column -1"). */
isynth_err json_load_record(const char *s, size_t n, size_t flags, json_t **out, json_error_t *je,
                            const char **why);

/* The one U+FFFD sanitiser: copies s[0..n) to dst (when dst is not NULL) with each NUL byte
 * and each byte that starts no valid UTF-8 sequence (utf8_seq_len) written as U+FFFD; with
 * text_lines, CR LF and a lone CR also become LF and a leading BOM is dropped. Returns the
 * length written (at most 3n): call it with dst NULL to size the copy. */
size_t utf8_scrub(const char *s, size_t n, char *dst, bool text_lines);
/* utf8_scrub (without text_lines) into a new NUL-terminated string the caller frees with
 * isynth_free, its length in *out_len; NULL when memory runs out. */
char *utf8_sanitize(const char *s, size_t n, size_t *out_len);

/* Decodes one code point at s (valid UTF-8 assumed); returns bytes used (0 at end). */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* The Japanese script of a code point, one table for the tokenizer, the quality filters and
 * language detection. Kanji includes 々〆〇 and the supplementary ideograph planes; katakana
 * includes ー, the phonetic extensions and half-width forms; the middle dot ・ and the
 * voicing marks are not letters of any script. */
typedef enum ja_script { JA_NONE = 0, JA_KANJI, JA_HIRAGANA, JA_KATAKANA } ja_script;
ja_script ja_script_of(uint32_t c);

/* A code point's Unicode general category in three, for every place that tells text from the
 * rest: a letter or number (L*, N*), a combining mark (M*), or anything else. */
typedef enum uc_kind { UC_OTHER = 0, UC_ALNUM, UC_MARK } uc_kind;
uc_kind uc_kind_of(int32_t c);

/* Decomposes one code point (NFKD + case folding) into d[0..32); returns the count (1 with d[0]
 * = cp when it does not decompose). */
int uc_decompose(int32_t cp, int32_t d[32]);

/* Language detection's one letter set, for isynth_lang_detect (seeds, outputs) and
 * isynth_quality_language (the quality filter): each code point is decomposed (NFKD + case
 * folding: full-width Ａ is a, ｶ is カ, é is e and a mark); kanji and kana are ja_script_of's,
 * latin is a-z, letters counts these and every other letter of any script (L*); digits, marks,
 * punctuation and space count nothing. */
typedef struct lang_tally {
    size_t letters, latin, kana, kanji;
} lang_tally;
/* Adds the letters of s[0..n) (valid UTF-8 or not: a bad byte counts as U+FFFD, no letter). */
void lang_tally_add(lang_tally *t, const char *s, size_t n);
/* ISYNTH_LANG_JA when kana and kanji are at least 30% of the letters (and there are some), else
 * ISYNTH_LANG_EN. */
isynth_lang lang_tally_lang(const lang_tally *t);

/* Reads a whole file up to max bytes into *out (NUL-terminated; free with isynth_free). */
isynth_err read_file_limited(const char *path, size_t max, char **out, size_t *len,
                             isynth_error *err);

/* Atomic output, the one way every writer replaces a file. atomic_open creates a new temporary
 * beside path ("<path>.tmp.<pid>.<random>", O_CREAT|O_EXCL|O_NOFOLLOW: a file or symlink
 * planted at that name is never followed nor overwritten) and opens it as a->f. atomic_reserve
 * is for a library that creates its output file itself (libxlsxwriter): it creates a private
 * directory beside path (mkdtemp, mode 0700, so nobody else can plant anything in it) and sets
 * a->tmp to a name inside it, with a->f NULL. atomic_commit flushes and fsyncs the temporary,
 * renames it to path, removes the private directory and fsyncs path's directory; atomic_abort
 * removes the temporary (and the directory). Both close the stream and free the names. */
/* How many allocations of the layer have failed since the process started. A library that
 * reports an allocation failure as something else (jansson: "malformed JSON at column -1")
 * is caught by comparing this before and after the call (once isynth_global_init has routed
 * its allocations here). */
unsigned long alloc_failures(void);

/* malloc, counted in alloc_failures but outside the test's fault injection: for jansson, whose
 * lexer (2.14, Debian 12) asserts instead of failing cleanly when an allocation fails
 * (akheron/jansson#362, fix not released), so injecting there would only abort the test. */
void *alloc_uninjected(size_t n);

/* Crash points, for the crash tests: the store calls fault_point before and after each
 * COMMIT, the JSONL exports after each line, atomic_commit before and after its rename. A test
 * sets a hook that counts them and ends the process at the N-th (test_pipeline's
 * test_crash_walk); without a hook they do nothing. The library itself never ends the
 * process. */
typedef void (*fault_hook_fn)(const char *where);
void fault_set_hook(fault_hook_fn fn);
void fault_point(const char *where);

typedef struct atomic_file {
    FILE *f;
    char *tmp;
    char *path;
    char *dir; /* atomic_reserve's private directory, else NULL */
} atomic_file;
/* atomic_open first removes the temporaries of path that a killed writer left. */
isynth_err atomic_open(atomic_file *a, const char *path, isynth_error *err);
isynth_err atomic_reserve(atomic_file *a, const char *path, isynth_error *err);
isynth_err atomic_commit(atomic_file *a, isynth_error *err);
void atomic_abort(atomic_file *a);

/* SHA-256 of a buffer or of a file, as 64 lowercase hex digits plus NUL in out[65]; the
 * _edges_ form hashes only the file's size and its first and last `edge` bytes (edge 0: the
 * whole file). */
void sha256_hex(const void *data, size_t len, char out[65]);
isynth_err sha256_file_edges_hex(const char *path, size_t edge, char out[65], isynth_error *err);
/* SHA-256 of n tasks' fields (id, instruction, input, output, eval_aspect, is_classification),
 * each field length-prefixed: what stands for a seed file's hash when the seeds were built in
 * memory. */
void sha256_tasks_hex(const isynth_task *tasks, size_t n, char out[65]);
/* Sets *t to a task holding copies of the strings (id NULL: none; NULL input or output: "";
 * eval_aspect ""), which the task owns. ISYNTH_ERR_NOMEM leaves *t empty. */
isynth_err task_init(isynth_task *t, const char *id, const char *instruction, const char *input,
                     const char *output);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SSZ" in out[21]. */
void utc_now(char out[21]);

#endif
