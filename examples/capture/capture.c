/* capture: two threads run Python at the same time, each with its own
 * output captured into its own buffer (pys_exec_captured), while
 * pys_redirect sends everything else to a prefixing writer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyshim.h>

typedef struct buf {
    char text[8192];
    size_t n;
} buf;

static void to_buf(void *ud, const char *data, size_t len)
{
    buf *b = ud;
    size_t k = len < sizeof b->text - 1 - b->n ? len : sizeof b->text - 1 - b->n;
    memcpy(b->text + b->n, data, k);
    b->n += k;
    b->text[b->n] = 0;
}

static void prefixed(void *ud, const char *data, size_t len)
{
    printf("[%s] %.*s", (const char *)ud, (int)len, data);
}

typedef struct job {
    pys_runtime *rt;
    const char *name;
    buf out;
    int rc;
} job;

static void *work(void *arg)
{
    job *j = arg;
    char src[256];
    snprintf(src, sizeof src,
             "import logging\n"
             "for i in range(3):\n"
             "    print('%s step', i)\n"
             "logging.getLogger('%s').warning('done')\n",
             j->name, j->name);
    j->rc = pys_exec_captured(j->rt, src, PYS_NULL, PYS_STDOUT | PYS_STDERR, to_buf, &j->out);
    return NULL;
}

int main(void)
{
    pys_runtime *rt;
    if (pys_open(NULL, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 1;
    }
    if (pys_redirect(rt, PYS_STDOUT | PYS_STDERR, prefixed, "python") != PYS_OK) {
        fprintf(stderr, "pys_redirect: %s\n", pys_last_error()->message);
        return 1;
    }
    job jobs[2] = {{rt, "alpha", {{0}, 0}, 0}, {rt, "beta", {{0}, 0}, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, work, &jobs[i]);
    pys_exec(rt, "print('this goes through pys_redirect')");
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int status = 0;
    for (int i = 0; i < 2; i++) {
        printf("--- %s (rc %d) ---\n%s", jobs[i].name, jobs[i].rc, jobs[i].out.text);
        const char *other = jobs[1 - i].name;
        if (jobs[i].rc != PYS_OK || strstr(jobs[i].out.text, other) ||
            !strstr(jobs[i].out.text, "done")) {
            fprintf(stderr, "capture: %s's output is wrong\n", jobs[i].name);
            status = 1;
        }
    }
    pys_redirect(rt, PYS_STDOUT | PYS_STDERR, NULL, NULL);
    fflush(stdout);
    pys_exec(rt, "print('and this goes straight to the terminal again')");
    pys_close(rt);
    return status;
}
