/* ld.so.cache, as glibc's ldconfig writes it. The new format: a 48-byte
 * header ("glibc-ld.so.cache1.1", nlibs, len_strings, ...) then nlibs
 * 24-byte entries (flags, key, value, osversion, hwcap), string offsets
 * relative to the header. The old format: "ld.so-1.7.0", nlibs, then 12-byte
 * entries (flags, key, value) with string offsets relative to the end of
 * the entry array; since glibc 2.2 the new format follows it, aligned to
 * its struct (8 bytes, 4 on i386), and wins. Integers are in this machine's
 * byte order. Nothing is trusted: counts are checked against the length
 * before any entry is read, and a string must end inside the buffer. */
#include <string.h>

#include "loader/ldcache.h"

/* The "required" flag bits of this ABI (glibc's FLAG_*_LIB64 values;
 * -1 = do not filter). */
#if defined(__x86_64__) && defined(__ILP32__)
#define LDCACHE_ARCH 0x0800
#elif defined(__x86_64__)
#define LDCACHE_ARCH 0x0300
#elif defined(__i386__)
#define LDCACHE_ARCH 0x0000
#elif defined(__aarch64__)
#define LDCACHE_ARCH 0x0a00
#else
#define LDCACHE_ARCH (-1)
#endif

#define LDC_OLD_MAGIC "ld.so-1.7.0"
#define LDC_NEW_MAGIC "glibc-ld.so.cache1.1"
#define LDC_OLD_HDR 16   /* magic[11], pad, uint32 nlibs */
#define LDC_OLD_ENTRY 12 /* int32 flags, uint32 key, value */
#define LDC_NEW_HDR 48   /* magic+version[20], nlibs, len_strings, flags, pad, ext, unused[3] */
#define LDC_NEW_ENTRY 24 /* flags, key, value, osversion, uint64 hwcap */

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The NUL-terminated string at `off` in [base, base+len), or NULL. */
static const char *ldc_str(const unsigned char *base, size_t len, uint32_t off)
{
    if (off >= len || !memchr(base + off, '\0', len - off))
        return NULL;
    return (const char *)base + off;
}

static void ldc_entry(pys__ldcache_fn fn, void *ud, uint32_t flags, const char *key,
                      const char *value, long *n)
{
    if (!key || !value)
        return;
    fn(ud, flags, key, value);
    (*n)++;
}

long pys__ldcache_foreach(const unsigned char *buf, size_t len, pys__ldcache_fn fn, void *ud)
{
    size_t off = 0;
    long seen = 0;
    if (len >= LDC_OLD_HDR && memcmp(buf, LDC_OLD_MAGIC, sizeof LDC_OLD_MAGIC - 1) == 0) {
        uint64_t n = rd32(buf + 12);
        uint64_t end = LDC_OLD_HDR + n * LDC_OLD_ENTRY;
        if (end > len)
            return -1;
        /* The new format follows, aligned to its struct (8, or 4 on i386). */
        off = SIZE_MAX;
        for (uint64_t a = 8; a >= 4 && off == SIZE_MAX; a /= 2) {
            uint64_t o = (end + a - 1) & ~(a - 1);
            if (o + LDC_NEW_HDR <= len && memcmp(buf + o, LDC_NEW_MAGIC, sizeof LDC_NEW_MAGIC - 1) == 0)
                off = (size_t)o;
        }
        if (off == SIZE_MAX) {
            const unsigned char *strs = buf + end;
            for (uint64_t i = 0; i < n; i++) {
                const unsigned char *e = buf + LDC_OLD_HDR + i * LDC_OLD_ENTRY;
                ldc_entry(fn, ud, rd32(e), ldc_str(strs, len - end, rd32(e + 4)),
                          ldc_str(strs, len - end, rd32(e + 8)), &seen);
            }
            return seen;
        }
    }
    if (len - off < LDC_NEW_HDR || memcmp(buf + off, LDC_NEW_MAGIC, sizeof LDC_NEW_MAGIC - 1) != 0)
        return -1;
    const unsigned char *h = buf + off;
    size_t hlen = len - off;
    uint64_t n = rd32(h + 20);
    if (LDC_NEW_HDR + n * LDC_NEW_ENTRY > hlen)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *e = h + LDC_NEW_HDR + i * LDC_NEW_ENTRY;
        ldc_entry(fn, ud, rd32(e), ldc_str(h, hlen, rd32(e + 4)), ldc_str(h, hlen, rd32(e + 8)),
                  &seen);
    }
    return seen;
}

bool pys__ldcache_flags_match(uint32_t flags)
{
    return LDCACHE_ARCH < 0 || (flags & 0xff00u) == (uint32_t)LDCACHE_ARCH;
}
