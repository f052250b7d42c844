/* Small shared helpers: the capped buffer, UTF-8 validation, bounded file reads, atomic
 * output files and SHA-256. Foreign bytes are validated here, at the edge, once. */
#include "internal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

void buf_init(buf *b, size_t max)
{
    assert(max > 0 && "buf_init: a buffer needs a cap");
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max; /* 0 (NDEBUG) refuses every add in buf_grow */
}

void buf_free(buf *b)
{
    isynth_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

static isynth_err buf_grow(buf *b, size_t extra)
{
    /* max 0: never initialised with a cap, or given 0 (a bug buf_init asserts): holds nothing */
    if (b->max == 0 || extra > b->max || b->len > b->max - extra) return ISYNTH_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return ISYNTH_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = isynth_realloc(b->p, cap);
    if (!p) return ISYNTH_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return ISYNTH_OK;
}

isynth_err buf_reserve(buf *b, size_t n)
{
    return buf_grow(b, n);
}

isynth_err buf_add(buf *b, const void *p, size_t n)
{
    isynth_err rc = buf_grow(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return ISYNTH_OK;
}

isynth_err buf_adds(buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

isynth_err buf_addc(buf *b, char c)
{
    return buf_add(b, &c, 1);
}

isynth_err buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return ISYNTH_ERR_INVALID;
    isynth_err rc = buf_grow(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return ISYNTH_OK;
}

char *buf_take(buf *b)
{
    char *p = b->p;
    if (!p) p = isynth_strndup("", 0);
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

isynth_err buf_add_json_str(buf *b, const char *s, size_t n)
{
    size_t len0 = b->len;
    isynth_err rc = buf_addc(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            rc = buf_add(b, "\\\"", 2);
            break;
        case '\\':
            rc = buf_add(b, "\\\\", 2);
            break;
        case '\n':
            rc = buf_add(b, "\\n", 2);
            break;
        case '\r':
            rc = buf_add(b, "\\r", 2);
            break;
        case '\t':
            rc = buf_add(b, "\\t", 2);
            break;
        default:
            if (c < 0x20)
                rc = buf_printf(b, "\\u%04x", c);
            else
                rc = buf_addc(b, (char)c);
        }
    }
    if (!rc) rc = buf_addc(b, '"');
    if (rc && b->p) b->p[b->len = len0] = '\0'; /* all or nothing: a cut literal is not JSON */
    return rc;
}

isynth_err buf_error(isynth_error *err, isynth_err rc, const buf *b, const char *where,
                     const char *what)
{
    const char *sep = where ? ": " : "";
    if (rc == ISYNTH_ERR_TOO_LARGE)
        return isynth_error_set(err, rc, "%s%s%s is over the limit of %zu bytes",
                                where ? where : "", sep, what, b->max);
    return isynth_error_set(err, rc, "%s%sout of memory", where ? where : "", sep);
}

/* Well-formed UTF-8 as in Unicode's Table 3-7: the lead byte fixes the range of the second byte
 * (E0, ED, F0 and F4 narrow it to exclude overlongs, surrogates and code points past U+10FFFF);
 * every later byte is 80..BF. */
size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return len;
}

/* Runs of ASCII are checked eight bytes at a time, runs of kana and kanji three bytes at a time;
 * anything else goes through utf8_seq_len. */
bool utf8_valid(const char *s, size_t n, size_t *bad_off)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, u + i, 8);
            /* any byte >= 0x80, or any zero byte (the classic haszero test) */
            if ((v & 0x8080808080808080ull) ||
                ((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull))
                break;
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = u[i];
        if (c < 0x80) {
            if (c == 0) goto bad;
            i++;
            continue;
        }
        /* E1..EC and EE..EF take any two continuation bytes */
        while (c >= 0xE1 && c <= 0xEF && c != 0xED && n - i >= 3 && (u[i + 1] & 0xC0) == 0x80 &&
               (u[i + 2] & 0xC0) == 0x80) {
            i += 3;
            if (i >= n) return true;
            c = u[i];
        }
        if (c < 0x80) continue;
        size_t len = utf8_seq_len(u + i, n - i);
        if (!len) goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_off) *bad_off = i;
    return false;
}

size_t utf8_scrub(const char *s, size_t n, char *dst, bool text_lines)
{
    static const char fffd[] = "\xEF\xBF\xBD";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    if (text_lines && n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) i = 3;
    while (i < n) {
        size_t l = utf8_seq_len(u + i, n - i);
        if (text_lines && u[i] == '\r') {
            if (dst) dst[o] = '\n';
            o++;
            i += i + 1 < n && u[i + 1] == '\n' ? 2 : 1;
        } else if (u[i] == 0 || l == 0) {
            if (dst) memcpy(dst + o, fffd, 3);
            o += 3;
            i++;
        } else {
            if (dst) memcpy(dst + o, u + i, l);
            o += l;
            i += l;
        }
    }
    return o;
}

char *utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    size_t len = utf8_scrub(s, n, NULL, false);
    char *out = isynth_malloc(len + 1);
    if (!out) return NULL;
    utf8_scrub(s, n, out, false);
    out[len] = '\0';
    *out_len = len;
    return out;
}

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) return 0;
    size_t l = utf8_seq_len(u, n);
    if (l == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t c = l == 1 ? u[0] : l == 2 ? (u[0] & 0x1Fu) : l == 3 ? (u[0] & 0x0Fu) : (u[0] & 0x07u);
    for (size_t i = 1; i < l; i++)
        c = (c << 6) | (u[i] & 0x3Fu);
    *cp = c;
    return l;
}

uc_kind uc_kind_of(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return UC_MARK;
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return UC_ALNUM;
    default:
        return UC_OTHER;
    }
}

ja_script ja_script_of(uint32_t c)
{
    if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
        (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3FFFF) ||
        (c >= 0x3005 && c <= 0x3007))
        return JA_KANJI;
    if ((c >= 0x3041 && c <= 0x3096) || c == 0x309D || c == 0x309E || c == 0x309F)
        return JA_HIRAGANA;
    if ((c >= 0x30A1 && c <= 0x30FA) || (c >= 0x30FC && c <= 0x30FF) ||
        (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9D))
        return JA_KATAKANA;
    return JA_NONE;
}

int uc_decompose(int32_t cp, int32_t d[32])
{
    utf8proc_ssize_t n = utf8proc_decompose_char(
        cp, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD, NULL);
    if (n < 1 || n > 32) {
        d[0] = cp;
        return 1;
    }
    return (int)n;
}

void lang_tally_add(lang_tally *t, const char *s, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        uint32_t cp;
        pos += utf8_decode(s + pos, n - pos, &cp);
        int32_t d[32];
        int nd = uc_decompose((int32_t)cp, d);
        for (int k = 0; k < nd; k++) {
            ja_script js = ja_script_of((uint32_t)d[k]);
            if (js == JA_KANJI) {
                t->kanji++;
            } else if (js != JA_NONE) {
                t->kana++;
            } else if (uc_kind_of(d[k]) != UC_ALNUM) {
                continue;
            } else {
                utf8proc_category_t cat = utf8proc_category(d[k]);
                if (cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL ||
                    cat == UTF8PROC_CATEGORY_NO)
                    continue;                           /* digits belong to every language */
                t->latin += d[k] >= 'a' && d[k] <= 'z'; /* case-folded: A-Z came as a-z */
            }
            t->letters++;
        }
    }
}

isynth_lang lang_tally_lang(const lang_tally *t)
{
    size_t ja = t->kana + t->kanji;
    return ja > 0 && ja * 10 >= t->letters * 3 ? ISYNTH_LANG_JA : ISYNTH_LANG_EN;
}

isynth_err read_file_limited(const char *path, size_t max, char **out, size_t *len,
                             isynth_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    buf b;
    buf_init(&b, max);
    char chunk[65536];
    isynth_err rc = ISYNTH_OK;
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = buf_add(&b, chunk, n);
        if (rc == ISYNTH_ERR_TOO_LARGE) {
            isynth_error_set(err, rc, "%s: larger than the limit of %zu bytes", path, max);
            goto fail;
        }
        if (rc) {
            isynth_error_set(err, rc, "%s: out of memory", path);
            goto fail;
        }
    }
    if (ferror(f)) {
        rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    *len = b.len;
    *out = buf_take(&b);
    if (!*out) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    return ISYNTH_OK;
fail:
    fclose(f);
    buf_free(&b);
    return rc;
}

static void atomic_clear(atomic_file *a)
{
    isynth_free(a->tmp);
    isynth_free(a->path);
    isynth_free(a->dir);
    a->f = NULL;
    a->tmp = a->path = a->dir = NULL;
}

/* A few random bits for temporary names (not a secret: O_EXCL and mkdtemp give the safety). */
static unsigned tmp_salt(void)
{
    static atomic_uint counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned c = atomic_fetch_add(&counter, 1u) + 1u;
    return (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16) ^ (c * 2654435761u);
}

/* Removes the temporaries of path that a killed writer left: PATH.tmp.PID.HEX whose process is
 * gone. A live writer's (another process still writing the same output) are left alone, and
 * nothing else in the directory is touched; unlinkat does not follow symlinks. */
static void atomic_sweep(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dname = slash ? isynth_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    if (slash && !dname) return;
    DIR *d = opendir(dname ? dname : ".");
    isynth_free(dname);
    if (!d) return;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
        char *end;
        long pid = strtol(n + bl + 5, &end, 10);
        bool ours = end != n + bl + 5 && *end == '.' && pid > 0 &&
                    strspn(end + 1, "0123456789abcdef") == 8 && end[9] == '\0';
        if (!ours) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

isynth_err atomic_open(atomic_file *a, const char *path, isynth_error *err)
{
    atomic_sweep(path);
    *a = (atomic_file){0};
    if (!(a->path = isynth_strdup(path)))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    int fd = -1, e = EEXIST;
    for (int tries = 0; fd < 0 && e == EEXIST && tries < 64; tries++) {
        buf t;
        buf_init(&t, BUF_MAX_PATH);
        isynth_free(a->tmp);
        a->tmp = NULL;
        isynth_err rc = buf_printf(&t, "%s.tmp.%ld.%08x", path, (long)getpid(), tmp_salt());
        if (rc || !(a->tmp = buf_take(&t))) {
            buf_free(&t);
            atomic_clear(a);
            return buf_error(err, rc ? rc : ISYNTH_ERR_NOMEM, &t, path, "the path");
        }
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        e = fd < 0 ? errno : 0;
    }
    if (fd >= 0 && !(a->f = fdopen(fd, "wb"))) {
        e = errno;
        close(fd);
        remove(a->tmp);
    }
    if (!a->f) {
        isynth_err rc =
            isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot create: %s", path, strerror(e));
        atomic_clear(a);
        return rc;
    }
    return ISYNTH_OK;
}

isynth_err atomic_reserve(atomic_file *a, const char *path, isynth_error *err)
{
    *a = (atomic_file){0};
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dlen = slash ? (int)(slash - path) + 1 : 0;
    buf d, t;
    buf_init(&d, BUF_MAX_PATH);
    buf_init(&t, BUF_MAX_PATH);
    isynth_err rc = ISYNTH_ERR_NOMEM;
    if (!(a->path = isynth_strdup(path)) ||
        (rc = buf_printf(&d, "%.*s.%s.tmp.XXXXXX", dlen, path, base)) || !(a->dir = buf_take(&d))) {
        buf_free(&d);
        atomic_clear(a);
        return buf_error(err, rc ? rc : ISYNTH_ERR_NOMEM, &d, path, "the path");
    }
    if (!mkdtemp(a->dir)) {
        rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        atomic_clear(a);
        return rc;
    }
    if ((rc = buf_printf(&t, "%s/%s", a->dir, base)) || !(a->tmp = buf_take(&t))) {
        buf_free(&t);
        rmdir(a->dir);
        atomic_clear(a);
        return buf_error(err, rc ? rc : ISYNTH_ERR_NOMEM, &t, path, "the path");
    }
    return ISYNTH_OK;
}

/* fsyncs a file or a directory by name. */
static bool fsync_name(const char *name, bool dir)
{
    int fd = open(name, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0 || (dir && errno == EINVAL); /* some file systems refuse it */
    close(fd);
    return ok;
}

static fault_hook_fn fault_hook;

void fault_set_hook(fault_hook_fn fn)
{
    fault_hook = fn;
}

void fault_point(const char *where)
{
    if (fault_hook) fault_hook(where);
}

isynth_err atomic_commit(atomic_file *a, isynth_error *err)
{
    isynth_err rc = ISYNTH_OK;
    bool ok;
    if (a->f) {
        ok = fflush(a->f) == 0 && !ferror(a->f) && fsync(fileno(a->f)) == 0;
        ok = (fclose(a->f) == 0) && ok;
        a->f = NULL;
    } else {
        ok = fsync_name(a->tmp, false);
    }
    if (ok) fault_point("before rename");
    if (!ok || rename(a->tmp, a->path) != 0) {
        rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot write: %s", a->path, strerror(errno));
        remove(a->tmp);
    }
    if (!rc) fault_point("after rename");
    if (a->dir) rmdir(a->dir);
    if (!rc) {
        const char *slash = strrchr(a->path, '/');
        char *parent =
            slash ? isynth_strndup(a->path, slash == a->path ? 1 : (size_t)(slash - a->path))
                  : NULL;
        if ((!slash || parent) && !fsync_name(parent ? parent : ".", true))
            rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot sync its directory: %s", a->path,
                                  strerror(errno));
        isynth_free(parent);
    }
    atomic_clear(a);
    return rc;
}

void atomic_abort(atomic_file *a)
{
    if (a->f) fclose(a->f);
    if (a->tmp) remove(a->tmp);
    if (a->dir) rmdir(a->dir);
    atomic_clear(a);
}

/* SHA-256 (FIPS 180-4), compact. */
typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bits;
    unsigned char blk[64];
    size_t n;
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_ctx *c, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5],
             g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha256_init(sha256_ctx *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->bits = 0;
    c->n = 0;
}

static void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->bits += (uint64_t)len * 8;
    while (len) {
        size_t take = 64 - c->n < len ? 64 - c->n : len;
        memcpy(c->blk + c->n, p, take);
        c->n += take;
        p += take;
        len -= take;
        if (c->n == 64) {
            sha256_block(c, c->blk);
            c->n = 0;
        }
    }
}

static void sha256_final(sha256_ctx *c, char out[65])
{
    uint64_t bits = c->bits;
    unsigned char pad = 0x80;
    sha256_update(c, &pad, 1);
    unsigned char zero = 0;
    while (c->n != 56)
        sha256_update(c, &zero, 1);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, len, 8);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            unsigned char byte = (unsigned char)(c->h[i] >> (24 - 8 * j));
            out[i * 8 + j * 2] = hex[byte >> 4];
            out[i * 8 + j * 2 + 1] = hex[byte & 15];
        }
    out[64] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[65])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, out);
}

/* Hashes the bytes of f from at to end (end < 0: to the end of the file); false on a read
 * error or a file shorter than end. */
static bool hash_range(sha256_ctx *c, FILE *f, off_t at, off_t end)
{
    unsigned char chunk[65536];
    if (fseeko(f, at, SEEK_SET) != 0) return false;
    while (end < 0 || at < end) {
        size_t want =
            end < 0 || (size_t)(end - at) > sizeof chunk ? sizeof chunk : (size_t)(end - at);
        size_t n = fread(chunk, 1, want, f);
        if (!n) return end < 0 && !ferror(f);
        sha256_update(c, chunk, n);
        at += (off_t)n;
    }
    return true;
}

/* The model file's fingerprint: SHA-256 over its size and its first and last `edge` bytes (a
 * GGUF's header, metadata and tensor table, and the end of its weights). Reading a whole 30 GB
 * model on every start would cost minutes; another model, quantisation or fine-tune differs in
 * these. edge 0: the whole file's plain SHA-256 (as sha256sum prints it). */
isynth_err sha256_file_edges_hex(const char *path, size_t edge, char out[65], isynth_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    sha256_ctx c;
    sha256_init(&c);
    bool ok;
    if (!edge) {
        ok = hash_range(&c, f, 0, -1);
    } else {
        ok = fseeko(f, 0, SEEK_END) == 0;
        off_t size = ok ? ftello(f) : -1, e = (off_t)edge;
        char head[32];
        int hn = snprintf(head, sizeof head, "%lld\n", (long long)size);
        sha256_update(&c, head, (size_t)hn);
        /* a file of 2 edges or less is hashed whole */
        ok = ok && size >= 0 && hash_range(&c, f, 0, e < size ? e : size) &&
             (size <= e || hash_range(&c, f, size > 2 * e ? size - e : e, size));
    }
    fclose(f);
    if (!ok) return isynth_error_set(err, ISYNTH_ERR_IO, "%s: read error", path);
    sha256_final(&c, out);
    return ISYNTH_OK;
}

/* Each field with its length first (8 bytes, little-endian), so that no two task lists hash
 * alike by moving text from one field to the next. */
static void sha256_field(sha256_ctx *c, const char *s)
{
    uint64_t n = s ? strlen(s) : 0;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    sha256_update(c, len, 8);
    if (n) sha256_update(c, s, (size_t)n);
}

void sha256_tasks_hex(const isynth_task *tasks, size_t n, char out[65])
{
    sha256_ctx c;
    sha256_init(&c);
    for (size_t i = 0; i < n; i++) {
        const isynth_task *t = &tasks[i];
        const char *fields[5] = {t->id, t->instruction, t->input, t->output, t->eval_aspect};
        for (int k = 0; k < 5; k++)
            sha256_field(&c, fields[k]);
        unsigned char cls = t->is_classification;
        sha256_update(&c, &cls, 1);
    }
    sha256_final(&c, out);
}

size_t array_next_cap(size_t cap, size_t first)
{
    return cap == 0 ? first : cap <= SIZE_MAX / 2 ? cap * 2 : SIZE_MAX;
}

isynth_err array_resize(void *arrp, size_t elem, size_t n)
{
    if (elem && n > SIZE_MAX / elem) return ISYNTH_ERR_NOMEM;
    void *p;
    memcpy(&p, arrp, sizeof p);
    void *q = isynth_realloc(p, n * elem);
    if (!q) return ISYNTH_ERR_NOMEM;
    memcpy(arrp, &q, sizeof q);
    return ISYNTH_OK;
}

isynth_err array_grow(void *arrp, size_t elem, size_t *cap, size_t first)
{
    size_t c = array_next_cap(*cap, first);
    isynth_err rc = array_resize(arrp, elem, c);
    if (!rc) *cap = c;
    return rc;
}

void utc_now(char out[21])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool csv_defuse(const char *s, size_t n)
{
    return n && s[0] && strchr("=+-@\t\r'", s[0]);
}

size_t csv_defused_quote(const char *s, size_t n)
{
    return n >= 2 && s[0] == '\'' && s[1] && strchr("=+-@\t\r'", s[1]) ? 1 : 0;
}

typedef struct name_ref {
    const char *p;
    size_t len, idx;
    bool icase;
} name_ref;

static int name_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)x->p[i], d = (unsigned char)y->p[i];
        if (x->icase) {
            c = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
            d = d >= 'A' && d <= 'Z' ? (unsigned char)(d + 32) : d;
        }
        if (c != d) return c < d ? -1 : 1;
    }
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

size_t find_repeated_name(const char *const *names, const size_t *lens, size_t n, bool icase,
                          bool *nomem)
{
    *nomem = false;
    if (n < 2) return (size_t)-1;
    name_ref *v = isynth_malloc(n * sizeof *v);
    if (!v) {
        *nomem = true;
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (name_ref){names[i], lens ? lens[i] : strlen(names[i]), i, icase};
    qsort(v, n, sizeof *v, name_cmp);
    size_t found = (size_t)-1;
    for (size_t i = 1; i < n; i++) {
        name_ref a = v[i - 1], b = v[i];
        a.idx = b.idx = 0;
        if (!name_cmp(&a, &b) && (found == (size_t)-1 || v[i].idx < found)) found = v[i].idx;
    }
    isynth_free(v);
    return found;
}

size_t json_next_mark(const char *s, size_t n, size_t i)
{
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
        } else if (c == '{' || c == '}' || c == '[' || c == ']' || c == ',') {
            return i;
        }
    }
    return n;
}

#define JSON_STR_(x) #x
#define JSON_STR(x) JSON_STR_(x)

/* NULL when the value at s[0] is within JSON_MAX_VALUES and JSON_MAX_DEPTH (see
 * json_load_record), else a static text naming the limit passed. Does not validate. */
static const char *json_over_limits(const char *s, size_t n)
{
    static const char deep[] = "nested deeper than the limit of " JSON_STR(JSON_MAX_DEPTH),
                      many[] = "more than the limit of " JSON_STR(
                          JSON_MAX_VALUES) " JSON values in one record";
    size_t values = 0;
    unsigned depth = 0;
    for (size_t i = json_next_mark(s, n, 0); i < n; i = json_next_mark(s, n, i + 1)) {
        char c = s[i];
        if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH) return deep;
            if (++values > JSON_MAX_VALUES) return many;
        } else if (c == ',') {
            if (++values > JSON_MAX_VALUES) return many;
        } else if (depth && --depth == 0) {
            break;
        }
    }
    return NULL;
}

isynth_err json_load_record(const char *s, size_t n, size_t flags, json_t **out, json_error_t *je,
                            const char **why)
{
    *out = NULL;
    if ((*why = json_over_limits(s, n)) != NULL) return ISYNTH_ERR_PARSE;
    unsigned long failed = alloc_failures();
    *out = json_loadb(s, n, flags, je);
    if (*out) return ISYNTH_OK;
    if (alloc_failures() != failed || json_error_code(je) == json_error_out_of_memory)
        return ISYNTH_ERR_NOMEM;
    return ISYNTH_ERR_PARSE;
}
