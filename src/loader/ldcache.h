/* The reader of the dynamic linker's cache (/etc/ld.so.cache), internal
 * to src/loader (discover_sources.c asks it for libpython entries). Pure
 * C: works on a buffer, no allocation, no I/O; testable and fuzzable
 * alone. */
#ifndef PYS_LOADER_LDCACHE_H
#define PYS_LOADER_LDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per entry, in file order: glibc's flags word, the soname
 * (key) and the library's path (value), both NUL-terminated views into the
 * buffer. */
typedef void (*pys__ldcache_fn)(void *ud, uint32_t flags, const char *key, const char *value);

/* Parses an ld.so.cache image of len bytes (any content): glibc's new
 * format ("glibc-ld.so.cache1.1"), alone or embedded after the old one
 * ("ld.so-1.7.0"), whose own entries are then ignored, or the old one
 * alone. Every offset is bounds-checked against [buf, buf + len); an entry
 * whose key or value string does not lie within the buffer is skipped.
 * Returns the number of entries passed to fn, or -1 (fn never called) when
 * the format is not recognised or the entry table does not fit the buffer.
 * Thread-safe (no state). */
long pys__ldcache_foreach(const unsigned char *buf, size_t len, pys__ldcache_fn fn, void *ud);

/* Whether an entry's flags say it is built for this process's ABI (glibc's
 * FLAG_*_LIB64 / FLAG_AARCH64_LIB64 bits); always true on ABIs whose bits
 * are not known here. */
bool pys__ldcache_flags_match(uint32_t flags);

#endif
