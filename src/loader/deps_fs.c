/* File-system helpers of the dependency cache: mkdir -p, rm -rf that never
 * follows a symlink, atomic file writes, directory listings, and the entry
 * locks. A lock is an flock on R/<name>.lock; its holder unlinks the file
 * before unlocking, and a locker checks after flock() that the path still
 * names the inode it locked (else retries), so lock files can be deleted
 * at any time without two holders of one entry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/deps_internal.h"
#include "loader/util.h"

void pys__deps_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int pys__deps_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}


/* ---- files and directories ----------------------------------------------- */

/* mkdir -p (mode 0755 for created components). */
int pys__deps_mkdir_p(const char *path)
{
    char *p = pys__strdup(path);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                rc = -1;
            *s = c;
            if (!c || rc)
                break;
        }
    }
    if (rc == 0 && !pys__is_dir(path)) {
        errno = ENOTDIR;
        rc = -1;
    }
    free(p);
    return rc;
}

/* rm -rf of dirfd/name without following symlinks. 0 or -1 (errno). */
static int rm_at(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth > 200) {
        errno = ELOOP;
        return -1;
    }
    int rc = 0, err = 0;
    /* Entries removed while reading may make readdir skip some: repeat. */
    for (int pass = 0; pass < 4; pass++) {
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? 0 : -1;
        DIR *dp = fdopendir(fd);
        if (!dp) {
            err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        rc = 0;
        struct dirent *e;
        while ((e = readdir(dp)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (rm_at(dirfd(dp), e->d_name, depth + 1) != 0) {
                rc = -1;
                err = errno;
            }
        }
        closedir(dp);
        if (rc != 0) {
            errno = err;
            return -1;
        }
        if (unlinkat(at, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        if (errno != ENOTEMPTY && errno != EEXIST)
            return -1;
    }
    return -1;
}

int pys__deps_rm_rf(const char *path)
{
    return rm_at(AT_FDCWD, path, 0);
}

/* Writes data to path atomically (temp file + rename), with `mode`. */
int pys__deps_write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    char *tmp = pys__asprintf("%s.pyshim-tmp", path);
    if (!tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = -1;
    if (fd >= 0) {
        size_t off = 0;
        while (off < len) {
            ssize_t k = write(fd, data + off, len - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        if (off == len && fchmod(fd, mode) == 0 && fsync(fd) == 0)
            rc = 0;
        if (close(fd) != 0)
            rc = -1;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -1;
        if (rc != 0)
            unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* ---- locks ----------------------------------------------------------------- */

/* Takes the exclusive lock `path` (created if needed). Returns the fd, -1 on
 * error (errno), or -2 when !wait and another holder has it. */
int pys__deps_lock_take(const char *path, bool wait)
{
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        int r;
        while ((r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR)
            ;
        if (r != 0) {
            int err = errno;
            close(fd);
            errno = err;
            return err == EWOULDBLOCK ? -2 : -1;
        }
        /* The holder before us may have unlinked the file: then we hold a
         * lock nobody else can see; start over on the current file. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
}

/* Unlinks (while still holding) and unlocks. */
void pys__deps_lock_drop(const char *path, int fd)
{
    unlink(path);
    close(fd);
}


/* The names in root, or an error (ENOENT gives an empty list). */
int pys__deps_list_dir(const char *root, pys__deps_names *out)
{
    *out = (pys__deps_names){0};
    DIR *dp = opendir(root);
    if (!dp)
        return errno == ENOENT ? 0 : -1;
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 32;
            char **v = pys__realloc_n(out->v, cap, sizeof *v);
            if (!v) {
                rc = -1;
                errno = ENOMEM;
                break;
            }
            out->v = v;
        }
        if (!(out->v[out->n] = pys__strdup(e->d_name))) {
            rc = -1;
            errno = ENOMEM;
            break;
        }
        out->n++;
    }
    closedir(dp);
    if (rc == 0 && out->n)
        qsort(out->v, out->n, sizeof *out->v, pys__deps_cmp_str);
    return rc;
}
