/* The ld.so.cache reader alone: pure C, no Python, runs once. Synthetic
 * caches in glibc's new format, the old one alone and with the new one
 * embedded, are written to a temp dir and read back into buffers of their
 * exact size (so that ASan sees any read past the end); then truncated,
 * garbage, huge-count and out-of-range-offset images, which must give a
 * clean -1 or skip the bad entry, never read outside the buffer. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/ldcache.h"
#include "loader/loader.h"
#include "loader/parse.h"

/* ---- building images -------------------------------------------------- */

typedef struct img {
    unsigned char *p;
    size_t len, cap;
} img;

static void put(img *m, const void *data, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2 + 64;
        m->p = realloc(m->p, m->cap);
        cr_assert_not_null(m->p);
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void put32(img *m, uint32_t v)
{
    put(m, &v, 4);
}

static void set32(img *m, size_t at, uint32_t v)
{
    cr_assert_leq(at + 4, m->len);
    memcpy(m->p + at, &v, 4);
}

static void pad_to(img *m, size_t align)
{
    while (m->len % align)
        put(m, "", 1);
}

typedef struct ent {
    uint32_t flags;
    const char *key, *value;
} ent;

#define NEW_HDR 48
#define NEW_ENT 24
#define OLD_HDR 16
#define OLD_ENT 12

/* The new format at m's end: header, entries, strings (offsets from the
 * header's start, as glibc writes them). Returns the header's offset. */
static size_t put_new(img *m, const ent *e, size_t n)
{
    size_t h = m->len;
    put(m, "glibc-ld.so.cache1.1", 20);
    put32(m, (uint32_t)n);
    put32(m, 0); /* len_strings, set below */
    put32(m, 0); /* flags (endianness) + pad */
    put32(m, 0); /* extension_offset */
    put32(m, 0);
    put32(m, 0);
    put32(m, 0);
    cr_assert_eq(m->len - h, NEW_HDR);
    size_t strs = NEW_HDR + n * NEW_ENT;
    size_t off = strs;
    for (size_t i = 0; i < n; i++) {
        put32(m, e[i].flags);
        put32(m, (uint32_t)off);
        off += strlen(e[i].key) + 1;
        put32(m, (uint32_t)off);
        off += strlen(e[i].value) + 1;
        put32(m, 0);             /* osversion */
        put32(m, 0), put32(m, 0); /* hwcap */
    }
    for (size_t i = 0; i < n; i++) {
        put(m, e[i].key, strlen(e[i].key) + 1);
        put(m, e[i].value, strlen(e[i].value) + 1);
    }
    set32(m, h + 24, (uint32_t)(off - strs));
    return h;
}

/* The old format at m's start (string offsets from the end of its entry
 * array). Its strings are written only `with_strings`: when the new format
 * follows, glibc writes the new header and entries right after the old
 * entries, and one string table after them. */
static void put_old(img *m, const ent *e, size_t n, bool with_strings)
{
    put(m, "ld.so-1.7.0\0", 12);
    put32(m, (uint32_t)n);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        put32(m, e[i].flags);
        put32(m, (uint32_t)off);
        off += strlen(e[i].key) + 1;
        put32(m, (uint32_t)off);
        off += strlen(e[i].value) + 1;
    }
    for (size_t i = 0; with_strings && i < n; i++) {
        put(m, e[i].key, strlen(e[i].key) + 1);
        put(m, e[i].value, strlen(e[i].value) + 1);
    }
}

/* ---- round trip through a file ---------------------------------------- */

static char tmpdir[] = "/tmp/pyshim-ldcache-XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* Writes the image as TMP/name and reads it back into a malloc'd buffer of
 * exactly its size (at least one byte, so malloc(0) is never asked for). */
static unsigned char *via_file(const img *m, const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(m->p, 1, m->len, f), m->len);
    cr_assert_eq(fclose(f), 0);
    char *text = pys__read_file(path, len);
    cr_assert_not_null(text);
    cr_assert_eq(*len, m->len);
    unsigned char *exact = malloc(*len ? *len : 1);
    cr_assert_not_null(exact);
    memcpy(exact, text, *len);
    free(text);
    return exact;
}

/* An exact-size copy of the first len bytes. */
static unsigned char *exact_copy(const unsigned char *p, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    cr_assert_not_null(b);
    memcpy(b, p, len);
    return b;
}

/* ---- what the callback saw -------------------------------------------- */

typedef struct seen {
    size_t n;
    uint32_t flags[16];
    char key[16][64], value[16][128];
    const unsigned char *lo, *hi; /* the buffer: every view must lie in it */
} seen;

static void collect(void *ud, uint32_t flags, const char *key, const char *value)
{
    seen *s = ud;
    cr_assert_not_null(key);
    cr_assert_not_null(value);
    cr_assert((const unsigned char *)key >= s->lo && (const unsigned char *)key < s->hi);
    cr_assert((const unsigned char *)value >= s->lo && (const unsigned char *)value < s->hi);
    cr_assert((const unsigned char *)key + strlen(key) < s->hi, "key ends inside the buffer");
    cr_assert((const unsigned char *)value + strlen(value) < s->hi, "value ends inside");
    if (s->n < 16) {
        s->flags[s->n] = flags;
        snprintf(s->key[s->n], sizeof s->key[0], "%s", key);
        snprintf(s->value[s->n], sizeof s->value[0], "%s", value);
    }
    s->n++;
}

static long parse(const unsigned char *buf, size_t len, seen *s)
{
    memset(s, 0, sizeof *s);
    s->lo = buf;
    s->hi = buf + len;
    return pys__ldcache_foreach(buf, len, collect, s);
}

static const ent three[] = {
    {0x0303, "libpython3.12.so.1.0", "/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0"},
    {0x0303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"},
    {0x0003, "libpython3.11.so", "/usr/lib32/libpython3.11.so"},
};

TestSuite(ldcache, .init = setup, .fini = teardown);

Test(ldcache, new_format)
{
    img m = {0};
    put_new(&m, three, 3);
    size_t len;
    unsigned char *buf = via_file(&m, "new.cache", &len);
    seen s;
    cr_assert_eq(parse(buf, len, &s), 3);
    cr_assert_eq(s.n, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(s.flags[i], three[i].flags);
        cr_assert_str_eq(s.key[i], three[i].key);
        cr_assert_str_eq(s.value[i], three[i].value);
    }
    free(buf);
    free(m.p);
}

Test(ldcache, new_format_empty)
{
    img m = {0};
    put_new(&m, NULL, 0);
    size_t len;
    unsigned char *buf = via_file(&m, "empty.cache", &len);
    seen s;
    cr_assert_eq(len, NEW_HDR);
    cr_assert_eq(parse(buf, len, &s), 0);
    cr_assert_eq(s.n, 0);
    free(buf);
    free(m.p);
}

Test(ldcache, old_format_alone)
{
    img m = {0};
    put_old(&m, three, 2, true);
    size_t len;
    unsigned char *buf = via_file(&m, "old.cache", &len);
    seen s;
    cr_assert_eq(parse(buf, len, &s), 2);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.flags[0], 0x0303);
    cr_assert_str_eq(s.key[0], "libpython3.12.so.1.0");
    cr_assert_str_eq(s.value[0], "/usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0");
    cr_assert_str_eq(s.key[1], "libc.so.6");
    cr_assert_str_eq(s.value[1], "/lib/x86_64-linux-gnu/libc.so.6");
    free(buf);
    free(m.p);
}

/* The old format's header and n_old entries, then the new one (aligned as
 * glibc aligns it): only the new one's entries count. */
static void combined(size_t n_old, size_t align)
{
    static const ent old[] = {{0x0303, "libold.so.1", "/old/libold.so.1"},
                              {0x0303, "libold.so.2", "/old/libold.so.2"}};
    img m = {0};
    put_old(&m, old, n_old, false);
    pad_to(&m, align);
    put_new(&m, three, 3);
    size_t len;
    unsigned char *buf = via_file(&m, "combined.cache", &len);
    seen s;
    cr_assert_eq(parse(buf, len, &s), 3, "%zu old entries, aligned to %zu", n_old, align);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(s.flags[i], three[i].flags);
        cr_assert_str_eq(s.key[i], three[i].key);
        cr_assert_str_eq(s.value[i], three[i].value);
    }
    free(buf);
    free(m.p);
}

Test(ldcache, old_with_new_embedded_8)
{
    combined(1, 8); /* 16 + 12 = 28 -> 32 */
    combined(2, 8); /* 40: aligned already */
}

Test(ldcache, old_with_new_embedded_4)
{
    combined(1, 4); /* i386: the new header right at 28 */
}

Test(ldcache, old_with_new_embedded_but_truncated)
{
    /* The new header is there but its entries do not fit: an error, not
     * a fall-back to the old entries. */
    img m = {0};
    put_old(&m, three, 2, false);
    put_new(&m, three, 3);
    unsigned char *buf = exact_copy(m.p, 40 + NEW_HDR + NEW_ENT);
    seen s;
    cr_assert_eq(parse(buf, 40 + NEW_HDR + NEW_ENT, &s), -1);
    cr_assert_eq(s.n, 0);
    free(buf);
    free(m.p);
}

Test(ldcache, truncated_everywhere)
{
    img m = {0};
    put_new(&m, three, 3);
    size_t table_end = NEW_HDR + 3 * NEW_ENT;
    for (size_t cut = 0; cut < m.len; cut++) {
        unsigned char *buf = exact_copy(m.p, cut);
        seen s;
        long r = parse(buf, cut, &s);
        if (cut < table_end) {
            cr_assert_eq(r, -1, "cut at %zu (inside the header or the entry table)", cut);
            cr_assert_eq(s.n, 0, "no callback on an error");
        } else {
            /* The table fits; entries whose strings were cut are skipped. */
            cr_assert(r >= 0 && r < 3, "cut at %zu: %ld", cut, r);
            cr_assert_eq((size_t)r, s.n);
        }
        free(buf);
    }
    free(m.p);
}

Test(ldcache, old_truncated_everywhere)
{
    img m = {0};
    put_old(&m, three, 3, true);
    size_t table_end = OLD_HDR + 3 * OLD_ENT;
    for (size_t cut = 0; cut < m.len; cut++) {
        unsigned char *buf = exact_copy(m.p, cut);
        seen s;
        long r = parse(buf, cut, &s);
        if (cut < table_end)
            cr_assert_eq(r, -1, "cut at %zu", cut);
        else
            cr_assert(r >= 0 && r < 3 && (size_t)r == s.n, "cut at %zu: %ld", cut, r);
        free(buf);
    }
    free(m.p);
}

Test(ldcache, garbage)
{
    unsigned char junk[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    for (size_t len = 0; len <= sizeof junk; len += 97) {
        unsigned char *buf = exact_copy(junk, len);
        seen s;
        cr_assert_eq(parse(buf, len, &s), -1, "%zu random bytes", len);
        free(buf);
    }
    /* A magic alone, or a magic followed by garbage that claims entries. */
    unsigned char *buf = exact_copy((const unsigned char *)"glibc-ld.so.cache1.1", 20);
    seen s;
    cr_assert_eq(parse(buf, 20, &s), -1, "magic without a header");
    free(buf);
    img m = {0};
    put(&m, "glibc-ld.so.cache1.1", 20);
    put(&m, junk, 1000);
    set32(&m, 20, 10); /* 10 entries of garbage offsets in 1020 bytes */
    buf = exact_copy(m.p, m.len);
    long r = parse(buf, m.len, &s);
    cr_assert(r >= 0 && r <= 10 && (size_t)r == s.n, "garbage entries: %ld", r);
    free(buf);
    free(m.p);
}

Test(ldcache, huge_counts)
{
    img m = {0};
    put_new(&m, three, 3);
    set32(&m, 20, 0xffffffffu);
    unsigned char *buf = exact_copy(m.p, m.len);
    seen s;
    cr_assert_eq(parse(buf, m.len, &s), -1, "new format, 2^32-1 entries");
    cr_assert_eq(s.n, 0);
    set32(&m, 20, 4); /* one entry more than written */
    free(buf);
    buf = exact_copy(m.p, m.len);
    long r = parse(buf, m.len, &s);
    /* 48 + 4*24 = 144 bytes of table fit in the image (its strings are
     * longer), so a 4th "entry" is read from the string bytes: it must be
     * judged like any other, never read past the end. */
    cr_assert(r >= 3 && r <= 4, "%ld", r);
    free(buf);
    free(m.p);

    img o = {0};
    put_old(&o, three, 3, true);
    set32(&o, 12, 0xffffffffu);
    buf = exact_copy(o.p, o.len);
    cr_assert_eq(parse(buf, o.len, &s), -1, "old format, 2^32-1 entries");
    free(buf);
    set32(&o, 12, 0x15555556u); /* 16 + n * 12 wraps a 32-bit size */
    buf = exact_copy(o.p, o.len);
    cr_assert_eq(parse(buf, o.len, &s), -1, "old format, count that wraps 32 bits");
    free(buf);
    free(o.p);
}

Test(ldcache, out_of_range_string_offsets)
{
    img m = {0};
    put_new(&m, three, 3);
    size_t e0 = NEW_HDR, e1 = NEW_HDR + NEW_ENT, e2 = NEW_HDR + 2 * NEW_ENT;
    set32(&m, e0 + 4, 0xffffffffu);        /* key far outside */
    set32(&m, e1 + 8, (uint32_t)m.len);    /* value exactly at the end */
    /* entry 2 stays valid */
    unsigned char *buf = exact_copy(m.p, m.len);
    seen s;
    cr_assert_eq(parse(buf, m.len, &s), 1, "only the valid entry is passed on");
    cr_assert_str_eq(s.key[0], three[2].key);
    cr_assert_str_eq(s.value[0], three[2].value);
    free(buf);

    /* A value that starts inside but has no NUL before the end. */
    m.len--; /* drop the last string's NUL: entry 2's value is unterminated */
    set32(&m, e2 + 8, (uint32_t)(m.len - 3));
    buf = exact_copy(m.p, m.len);
    cr_assert_eq(parse(buf, m.len, &s), 0, "an unterminated string is skipped");
    free(buf);
    free(m.p);

    /* The old format: offsets past its string table. */
    img o = {0};
    put_old(&o, three, 2, true);
    set32(&o, OLD_HDR + 4, 0x7fffffffu);
    buf = exact_copy(o.p, o.len);
    cr_assert_eq(parse(buf, o.len, &s), 1);
    cr_assert_str_eq(s.key[0], "libc.so.6");
    free(buf);
    free(o.p);
}

Test(ldcache, flags_and_libpython_entries)
{
    /* This ABI's flags are accepted (the 0x0303 entries on x86-64). */
#if defined(__x86_64__) && !defined(__ILP32__)
    cr_assert(pys__ldcache_flags_match(0x0303));
    cr_assert(!pys__ldcache_flags_match(0x0003), "a 32-bit entry on x86-64");
    cr_assert(!pys__ldcache_flags_match(0x0a03), "an aarch64 entry on x86-64");
#endif
    /* The probe's entry counts libpython entries (any architecture), not
     * others, and judges them against the file system. */
    img m = {0};
    put_new(&m, three, 3);
    unsigned char *buf = exact_copy(m.p, m.len);
    pys__probe out = {.chosen = -1};
    size_t nlib = 99;
    cr_assert(pys__ldcache_parse(buf, m.len, &out, &nlib));
    cr_assert_eq(nlib, 2);
    pys__probe_free(&out);
    free(buf);
    free(m.p);

    unsigned char junk[64] = {0};
    out = (pys__probe){.chosen = -1};
    cr_assert(!pys__ldcache_parse(junk, sizeof junk, &out, &nlib));
    cr_assert_eq(nlib, 0);
    pys__probe_free(&out);
}
