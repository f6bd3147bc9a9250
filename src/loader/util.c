#include "loader/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void *pys__malloc_n(size_t n, size_t size)
{
    size_t bytes;
    if (!pys__mul_size(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(bytes);
}

void *pys__realloc_n(void *p, size_t n, size_t size)
{
    size_t bytes;
    if (!pys__mul_size(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, bytes);
}

static bool sb_reserve(pys__sb *b, size_t extra)
{
    if (b->oom)
        return false;
    size_t need;
    if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need)) {
        b->oom = true;
        return false;
    }
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void pys__sb_addn(pys__sb *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void pys__sb_add(pys__sb *b, const char *s)
{
    pys__sb_addn(b, s, strlen(s));
}

void pys__sb_vaddf(pys__sb *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !sb_reserve(b, (size_t)n))
        return;
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void pys__sb_addf(pys__sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys__sb_vaddf(b, fmt, ap);
    va_end(ap);
}

char *pys__sb_take(pys__sb *b)
{
    char *s = NULL;
    if (!b->oom)
        s = b->s ? b->s : pys__strdup("");
    else
        free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = false;
    return s;
}

void pys__sb_free(pys__sb *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

char *pys__strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *pys__strdup(const char *s)
{
    return s ? pys__strndup(s, strlen(s)) : NULL;
}

char *pys__vasprintf(const char *fmt, va_list ap)
{
    pys__sb b = {0};
    pys__sb_vaddf(&b, fmt, ap);
    return pys__sb_take(&b);
}

char *pys__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pys__vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *pys__path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    while (*name == '/')
        name++;
    return pys__asprintf("%.*s/%s", (int)n, dir, name);
}

char *pys__path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return pys__strdup(".");
    if (slash == path)
        return pys__strdup("/");
    return pys__strndup(path, (size_t)(slash - path));
}

bool pys__is_file(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool pys__is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool pys__is_exec(const char *path)
{
    return pys__is_file(path) && access(path, X_OK) == 0;
}

char *pys__realpath(const char *path)
{
    return path ? realpath(path, NULL) : NULL;
}

char *pys__read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    pys__sb b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        pys__sb_addn(&b, buf, n);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        pys__sb_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return pys__sb_take(&b);
}

bool pys__starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool pys__ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}
