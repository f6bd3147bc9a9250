/* SHA-256 (FIPS 180-4), internal to src/loader: the dependency cache's key
 * (deps_cache.c). Pure C: no allocation, no I/O; testable alone. */
#ifndef PYS_LOADER_SHA256_H
#define PYS_LOADER_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* A running hash. Initialise with pys__sha256_init; not shared between
 * threads (each caller keeps its own on the stack). */
typedef struct pys__sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t n;     /* bytes waiting in buf */
} pys__sha256;

void pys__sha256_init(pys__sha256 *s);
/* Adds len bytes (any length, any number of calls). */
void pys__sha256_update(pys__sha256 *s, const void *data, size_t len);
/* Pads, and writes the digest as 64 lowercase hex digits and a NUL. The
 * state is spent afterwards (init again to reuse it). */
void pys__sha256_final_hex(pys__sha256 *s, char hex[65]);

#endif
