/* Subprocesses for the loader (venv / pip / uv), never through a shell.
 *
 * Why: requirement strings and paths come from the caller; passing them as
 * single argv elements to posix_spawn means "x; rm -rf ~" is only ever an
 * odd argument, never a command. Invariants:
 * - The program is resolved on PATH here (pys__which), so "not found" is a
 *   clear diagnostic rather than an exit status of 127.
 * - stdin is /dev/null; stdout and stderr are separate pipes, both drained
 *   with poll() so a child that fills one pipe while we block on the other
 *   cannot deadlock. Pipe ends are O_CLOEXEC so concurrent spawns from other
 *   threads never inherit (and hold open) each other's pipes.
 * - Captured output is bounded (PYS__SPAWN_CAP per stream): beyond that the
 *   oldest half is dropped, because the end of a tool's output is where its
 *   error is.
 * - The child's environment is a fresh envp: the current environment with
 *   env_add entries replacing same-named variables. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader/loader.h"
#include "pyshim.h"

extern char **environ;

#define PYS__SPAWN_CAP ((size_t)8 << 20)

static atomic_ulong spawn_count;

unsigned long pys__spawn_count(void)
{
    return atomic_load(&spawn_count);
}

char *pys__which(const char *name)
{
    if (!name || !*name)
        return NULL;
    if (strchr(name, '/'))
        return pys__is_exec(name) && !pys__is_dir(name) ? pys__strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *dir = n ? pys__strndup(p, n) : pys__strdup(".");
        char *full = dir ? pys__path_join(dir, name) : NULL;
        free(dir);
        if (full && pys__is_exec(full) && !pys__is_dir(full))
            return full;
        free(full);
        if (!end)
            return NULL;
        p = end + 1;
    }
}

/* The current environment with `add` applied; pointers into environ and add
 * (only the array is allocated). */
static char **build_envp(const char *const *add)
{
    size_t n = 0, nadd = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (const char *const *a = add; a && *a; a++)
        nadd++;
    char **envp = calloc(n + nadd + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
        bool overridden = false;
        for (const char *const *a = add; a && *a && !overridden; a++)
            overridden = strncmp(*a, *e, klen) == 0 && (*a)[klen] == '=';
        if (!overridden)
            envp[k++] = *e;
    }
    for (const char *const *a = add; a && *a; a++) {
        /* A later duplicate in `add` wins: drop earlier ones. */
        const char *eq = strchr(*a, '=');
        size_t klen = eq ? (size_t)(eq - *a) : strlen(*a);
        bool later = false;
        for (const char *const *b = a + 1; *b && !later; b++)
            later = strncmp(*a, *b, klen) == 0 && (*b)[klen] == '=';
        if (!later && eq)
            envp[k++] = (char *)*a;
    }
    envp[k] = NULL;
    return envp;
}

typedef struct capture {
    pys__sb sb;
    bool want;
} capture;

static void capture_add(capture *c, const char *buf, size_t n)
{
    if (!c->want)
        return;
    if (c->sb.len + n > PYS__SPAWN_CAP && c->sb.len > 0) {
        size_t drop = c->sb.len / 2;
        memmove(c->sb.s, c->sb.s + drop, c->sb.len - drop);
        c->sb.len -= drop;
        c->sb.s[c->sb.len] = '\0';
    }
    pys__sb_addn(&c->sb, buf, n);
}

/* Reads both pipes until EOF on both. */
static void drain(int fd_out, int fd_err, capture *out, capture *err)
{
    struct pollfd pf[2] = {{.fd = fd_out, .events = POLLIN}, {.fd = fd_err, .events = POLLIN}};
    capture *caps[2] = {out, err};
    char buf[16384];
    int open_fds = 2;
    while (open_fds > 0) {
        int r = poll(pf, 2, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(pf[i].fd, buf, sizeof buf);
            if (k > 0) {
                capture_add(caps[i], buf, (size_t)k);
            } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                pf[i].fd = -1;
                open_fds--;
            }
        }
    }
}

int pys__spawn(const char *const *argv, const char *const *env_add, char **out_stdout,
               char **out_stderr, pys__diag *d)
{
    atomic_fetch_add(&spawn_count, 1);
    if (out_stdout)
        *out_stdout = NULL;
    if (out_stderr)
        *out_stderr = NULL;
    if (!argv || !argv[0] || !*argv[0]) {
        pys__diag_set(d, PYS_E_ARG, "spawn: empty argv");
        return -1;
    }
    char *prog = pys__which(argv[0]);
    if (!prog) {
        if (strchr(argv[0], '/'))
            pys__diag_set(d, PYS_E_NOTFOUND, "cannot run %s: not an executable file", argv[0]);
        else
            pys__diag_set(d, PYS_E_NOTFOUND, "cannot run %s: not found on PATH (%s)", argv[0],
                          getenv("PATH") ? getenv("PATH") : "unset");
        pys__diag_searched(d, "%s", argv[0]);
        return -1;
    }

    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    char **envp = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    int rc = -1, err = 0;
    pid_t pid = -1;

    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        err = errno;
        goto fail;
    }
    envp = build_envp(env_add);
    if (!envp || posix_spawn_file_actions_init(&fa) != 0) {
        err = ENOMEM;
        goto fail;
    }
    fa_ok = true;
    if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
        (err = posix_spawn_file_actions_adddup2(&fa, po[1], 1)) != 0 ||
        (err = posix_spawn_file_actions_adddup2(&fa, pe[1], 2)) != 0)
        goto fail;
    /* The child starts with no blocked signals and default dispositions,
     * whatever the calling thread blocks or the host ignores. */
    if ((err = posix_spawnattr_init(&attr)) != 0)
        goto fail;
    attr_ok = true;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if ((err = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
        (err = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
        (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0)
        goto fail;
    err = posix_spawn(&pid, prog, &fa, &attr, (char *const *)argv, envp);
    if (err != 0)
        goto fail;

    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    capture cout = {.want = out_stdout != NULL}, cerr = {.want = out_stderr != NULL};
    drain(po[0], pe[0], &cout, &cerr);
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0) {
        /* e.g. the host set SIGCHLD to SIG_IGN: the status is lost. */
        pys__diag_set(d, PYS_E_INTERNAL, "%s: waitpid failed: %s", prog, strerror(errno));
        rc = -1;
    } else if (WIFEXITED(status))
        rc = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        rc = 128 + WTERMSIG(status);
    else
        rc = 255;
    if (rc >= 0 && out_stdout)
        *out_stdout = pys__sb_take(&cout.sb);
    if (rc >= 0 && out_stderr)
        *out_stderr = pys__sb_take(&cerr.sb);
    pys__sb_free(&cout.sb);
    pys__sb_free(&cerr.sb);
    goto done;

fail:
    pys__diag_set(d, err == ENOMEM ? PYS_E_NOMEM : PYS_E_NOTFOUND, "cannot run %s: %s", prog,
                  strerror(err ? err : EIO));
    rc = -1;
done:
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    free(envp);
    free(prog);
    return rc;
}
