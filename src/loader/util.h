/* Small string and file helpers shared by every layer (the lowest layer).
 * All allocations go through malloc; every function that allocates returns
 * NULL on out-of-memory and never aborts. */
#ifndef PYS_UTIL_H
#define PYS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define PYS__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PYS__PRINTF(a, b)
#endif

/* A growable NUL-terminated string. Zero-initialised is empty. On an
 * allocation failure `oom` is set and further appends are ignored. */
typedef struct pys__sb {
    char *s;
    size_t len, cap;
    bool oom;
} pys__sb;

void pys__sb_add(pys__sb *b, const char *s);
void pys__sb_addn(pys__sb *b, const char *s, size_t n);
void pys__sb_addf(pys__sb *b, const char *fmt, ...) PYS__PRINTF(2, 3);
void pys__sb_vaddf(pys__sb *b, const char *fmt, va_list ap);
/* Returns the string (never NULL unless oom) and resets the builder. */
char *pys__sb_take(pys__sb *b);
void pys__sb_free(pys__sb *b);

/* Allocation of n items of `size` bytes: every malloc / realloc whose
 * size is a product goes through these, so that a count from outside
 * (nargs, a capacity doubled once too often) cannot wrap the product into
 * a small block that is then overrun. NULL (errno ENOMEM) when n * size
 * does not fit a size_t, or out of memory; realloc leaves p as it was. */
static inline bool pys__mul_size(size_t n, size_t size, size_t *out)
{
    return !__builtin_mul_overflow(n, size, out);
}
void *pys__malloc_n(size_t n, size_t size);
void *pys__realloc_n(void *p, size_t n, size_t size);

char *pys__strdup(const char *s);
char *pys__strndup(const char *s, size_t n);
char *pys__asprintf(const char *fmt, ...) PYS__PRINTF(1, 2);
char *pys__vasprintf(const char *fmt, va_list ap);
/* dir + "/" + name, without doubling the slash. */
char *pys__path_join(const char *dir, const char *name);
/* Directory part of a path ("/a/b/c" -> "/a/b"; "c" -> "."). */
char *pys__path_dir(const char *path);
bool pys__is_file(const char *path);
bool pys__is_dir(const char *path);
bool pys__is_exec(const char *path);
/* realpath() into a malloc'd string, NULL when the path does not resolve. */
char *pys__realpath(const char *path);
/* Reads a whole file (NUL-terminated); NULL on error. */
char *pys__read_file(const char *path, size_t *len);
bool pys__starts_with(const char *s, const char *prefix);
bool pys__ends_with(const char *s, const char *suffix);

#endif
