/* pysbench: pyshim against the direct C-API, on the same libpython.
 *
 * This is the runner. It asks bench_capi (linked to the libpython whose
 * headers it was built with) which library that is, then starts
 * `bench_capi --child ops` several times: each run times every op on both
 * sides back to back in one process and one interpreter (pyshim loads that
 * same library and attaches). Startup is measured in fresh processes:
 * `bench_capi --child startup` (Py_InitializeEx(0)) against
 * `pysbench --child startup --library <it>` (pys_open; this binary never
 * links libpython). It prints a table of medians and pyshim / C-API ratios,
 * or JSON with --json. See BENCHMARKS.md. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pyshim.h>

#include "bench_util.h"
#include "shim_ops.h"

extern char **environ;

/* ======================================================================= */
/* The runner                                                               */
/* ======================================================================= */

enum { SIDE_SHIM = 0, SIDE_CAPI = 1, SIDE_PB11 = 2 }; /* pybind11: batched rows only */
enum { MODE_AUTO = 0, MODE_BATCHED = 1 };
#define NEXTRA 2 /* exec_vs_runstring, eval_vs_runstring */
#define NSLOTS (PB_NOPS + NEXTRA)
#define MAXS 4096

typedef struct samples {
    double v[MAXS];
    int n;
} samples;

static samples ops_s[NSLOTS][3][2];  /* [op][side][mode] */
static samples start_s[4][2]; /* [init|exec|initcpu|execcpu][side] */
static char skip_reason[NSLOTS][256];
static char library[PATH_MAX], version[64];

static int slot_of(const char *name)
{
    for (int i = 0; i < PB_NOPS; i++)
        if (strcmp(name, pb_op_name[i]) == 0)
            return i;
    if (strcmp(name, PB_EXEC_RUNSTRING) == 0)
        return PB_NOPS;
    if (strcmp(name, PB_EVAL_RUNSTRING) == 0)
        return PB_NOPS + 1;
    return -1;
}

static void add(samples *s, double v)
{
    if (s->n < MAXS)
        s->v[s->n++] = v;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(samples *s)
{
    if (!s->n)
        return NAN;
    qsort(s->v, (size_t)s->n, sizeof(double), cmp_d);
    return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

static void parse_line(char *line, int side)
{
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == 'I' && line[1] == ' ') {
        char *k = line + 2, *v = strchr(k, ' ');
        if (!v)
            return;
        *v++ = '\0';
        if (strcmp(k, "library") == 0)
            snprintf(library, sizeof library, "%s", v);
        else if (strcmp(k, "version") == 0)
            snprintf(version, sizeof version, "%s", v);
    } else if (line[0] == 'R' && line[1] == ' ') {
        char op[64], mode[32], who[16];
        double ns;
        int nf = sscanf(line + 2, "%63s %31s %lf %15s", op, mode, &ns, who);
        if (nf < 3)
            return;
        if (nf == 4)
            side = strcmp(who, "pyshim") == 0     ? SIDE_SHIM
                   : strcmp(who, "pybind11") == 0 ? SIDE_PB11
                                                  : SIDE_CAPI;
        static const char *const st_names[4] = {"startup_init", "startup_exec",
                                                 "startup_initcpu", "startup_execcpu"};
        for (int k = 0; k < 4; k++) {
            if (strcmp(op, st_names[k]) == 0 && side != SIDE_PB11) {
                add(&start_s[k][side], ns);
                return;
            }
        }
        int s = slot_of(op);
        if (s >= 0)
            add(&ops_s[s][side][strcmp(mode, "batched") == 0], ns);
    } else if (line[0] == 'S' && line[1] == ' ') {
        char *op = line + 2, *why = strchr(op, ' ');
        if (!why)
            return;
        *why++ = '\0';
        int s = slot_of(op);
        if (s >= 0)
            snprintf(skip_reason[s], sizeof skip_reason[s], "%s", why);
    }
}

/* Runs argv, feeding each stdout line to parse_line. Returns the exit status. */
static int run_child(char *const *argv, int side, bool verbose)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        fprintf(stderr, "pysbench: cannot start %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    FILE *f = fdopen(fds[0], "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        if (verbose)
            fprintf(stderr, "[%s] %s", side == SIDE_SHIM ? "pyshim" : "capi", line);
        parse_line(line, side);
    }
    if (f)
        fclose(f);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, n, "%s", c);
            }
            break;
        }
    }
    if (f)
        fclose(f);
}

static const char *const op_text[] = {
#define PB_TEXT(id, calls, text) text,
    PB_OPS(PB_TEXT)
#undef PB_TEXT
};
static const int op_calls[] = {
#define PB_CALLS(id, calls, text) calls,
    PB_OPS(PB_CALLS)
#undef PB_CALLS
};

#define T_AUTO 1.25
#define T_BATCH 1.15
#define T_RUNSTRING 20.0
#define T_NUMPY_NS 10000.0
#define T_OPEN 1.3

static void fmt_ns(char *buf, size_t n, double ns)
{
    if (isnan(ns))
        snprintf(buf, n, "-");
    else if (ns >= 1e6)
        snprintf(buf, n, "%.2f ms", ns / 1e6);
    else if (ns >= 1e4)
        snprintf(buf, n, "%.1f us", ns / 1e3);
    else
        snprintf(buf, n, "%.1f ns", ns);
}

static void json_num(double v)
{
    if (isnan(v))
        printf("null");
    else
        printf("%.4g", v);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: pysbench [--json] [--runs N] [--reps N] [--target-ms MS] [--startup-runs N]\n"
            "                [--quick] [--verbose]\n"
            "Compares pyshim with the direct C-API on the libpython bench_capi is linked to.\n");
    return 2;
}

static int runner(int argc, char **argv)
{
    if (pb_flag(argc, argv, "--help") || pb_flag(argc, argv, "-h"))
        return usage();
    bool json = pb_flag(argc, argv, "--json"), quick = pb_flag(argc, argv, "--quick");
    bool verbose = pb_flag(argc, argv, "--verbose");
    const char *a;
    int runs = (a = pb_arg(argc, argv, "--runs")) ? atoi(a) : quick ? 1 : 3;
    int reps = (a = pb_arg(argc, argv, "--reps")) ? atoi(a) : quick ? 3 : 5;
    int target_ms = (a = pb_arg(argc, argv, "--target-ms")) ? atoi(a) : quick ? 5 : 20;
    int sruns = (a = pb_arg(argc, argv, "--startup-runs")) ? atoi(a) : quick ? 3 : 9;
    if (runs < 1 || reps < 1 || target_ms < 1 || sruns < 0)
        return usage();

    char self[PATH_MAX], capi[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return fprintf(stderr, "pysbench: cannot find itself\n"), 1;
    self[n] = '\0';
    snprintf(capi, sizeof capi, "%s", self);
    char *slash = strrchr(capi, '/');
    snprintf(slash + 1, sizeof capi - (size_t)(slash + 1 - capi), "bench_capi");

    char *info_argv[] = {capi, "--child", "info", NULL};
    if (run_child(info_argv, SIDE_CAPI, verbose) != 0 || !library[0]) {
        fprintf(stderr, "pysbench: %s --child info failed\n", capi);
        return 1;
    }
    char s_reps[16], s_target[16], t0[32];
    snprintf(s_reps, sizeof s_reps, "%d", reps);
    snprintf(s_target, sizeof s_target, "%d", target_ms);
    char *ops_argv[] = {capi, "--child", "ops", "--reps", s_reps, "--target-ms", s_target, NULL};
    if (!json)
        fprintf(stderr, "pysbench: %d runs x %d reps on %s ...\n", runs, reps, library);
    for (int r = 0; r < runs; r++) {
        int st = run_child(ops_argv, SIDE_CAPI, verbose);
        if (st != 0) {
            fprintf(stderr, "pysbench: %s --child ops failed (status %d)\n", capi, st);
            return 1;
        }
    }
    for (int r = 0; r < sruns; r++) {
        for (int k = 0; k < 2; k++) {
            bool shim_turn = (r + k) % 2 == 1;
            snprintf(t0, sizeof t0, "%lld", (long long)pb_now());
            char *cs[] = {capi, "--child", "startup", "--t0", t0, NULL};
            char *ss[] = {self, "--child", "startup", "--library", library, "--t0", t0, NULL};
            if (run_child(shim_turn ? ss : cs, shim_turn ? SIDE_SHIM : SIDE_CAPI, verbose) != 0) {
                fprintf(stderr, "pysbench: a startup run failed\n");
                return 1;
            }
        }
    }

    /* ---- report ---- */
    double med[NSLOTS][3][2];
    for (int i = 0; i < NSLOTS; i++)
        for (int s = 0; s < 3; s++)
            for (int m = 0; m < 2; m++)
                med[i][s][m] = median(&ops_s[i][s][m]);
    double st_init[2] = {median(&start_s[0][SIDE_SHIM]), median(&start_s[0][SIDE_CAPI])};
    double st_exec[2] = {median(&start_s[1][SIDE_SHIM]), median(&start_s[1][SIDE_CAPI])};
    double st_icpu[2] = {median(&start_s[2][SIDE_SHIM]), median(&start_s[2][SIDE_CAPI])};
    double st_ecpu[2] = {median(&start_s[3][SIDE_SHIM]), median(&start_s[3][SIDE_CAPI])};
    double open_ratio = st_init[0] / st_init[1], exec_ratio = st_exec[0] / st_exec[1];
    double icpu_ratio = st_icpu[0] / st_icpu[1], ecpu_ratio = st_ecpu[0] / st_ecpu[1];
    double sp_exec[2], sp_eval[2]; /* PyRun_String / pyshim, per mode */
    for (int m = 0; m < 2; m++) {
        sp_exec[m] = med[PB_NOPS][SIDE_CAPI][m] / med[PB_NOPS][SIDE_SHIM][m];
        sp_eval[m] = med[PB_NOPS + 1][SIDE_CAPI][m] / med[PB_NOPS + 1][SIDE_SHIM][m];
    }
    double numpy_ns = med[PB_numpy_1m][SIDE_SHIM][MODE_AUTO];
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int met = 0, missed = 0;

    if (json) {
        printf("{\n  \"machine\": {\"nproc\": %ld, \"cpu\": \"%s\"},\n", ncpu, cpu);
        printf("  \"python\": {\"version\": \"%s\", \"library\": \"%s\"},\n", version, library);
        printf("  \"method\": {\"runs\": %d, \"reps\": %d, \"target_ms\": %d, \"startup_runs\": %d, "
               "\"statistic\": \"median\", \"ratio\": \"pyshim / C-API\"},\n",
               runs, reps, target_ms, sruns);
        printf("  \"targets\": {\"auto\": %.2f, \"batched\": %.2f, \"runstring_speedup\": %.0f, "
               "\"numpy_1m_ns\": %.0f, \"open\": %.2f},\n",
               T_AUTO, T_BATCH, T_RUNSTRING, T_NUMPY_NS, T_OPEN);
        printf("  \"ops\": [\n");
        for (int i = 0; i < PB_NOPS; i++) {
            printf("    {\"op\": \"%s\", \"text\": \"", pb_op_name[i]);
            for (const char *p = op_text[i]; *p; p++)
                printf(*p == '"' ? "\\\"" : "%c", *p);
            printf("\", \"calls\": %d", op_calls[i]);
            if (skip_reason[i][0]) {
                printf(", \"skipped\": \"%s\"}%s\n", skip_reason[i], i + 1 < PB_NOPS ? "," : "");
                continue;
            }
            for (int m = 0; m < 2; m++) {
                double r = med[i][SIDE_SHIM][m] / med[i][SIDE_CAPI][m];
                printf(", \"%s\": {\"pyshim_ns\": ", m ? "batched" : "auto");
                json_num(med[i][SIDE_SHIM][m]);
                printf(", \"capi_ns\": ");
                json_num(med[i][SIDE_CAPI][m]);
                printf(", \"ratio\": ");
                json_num(r);
                printf(", \"target_met\": %s", r <= (m ? T_BATCH : T_AUTO) ? "true" : "false");
                if (m && ops_s[i][SIDE_PB11][m].n) {
                    printf(", \"pybind11_ns\": ");
                    json_num(med[i][SIDE_PB11][m]);
                }
                printf("}");
            }
            printf("}%s\n", i + 1 < PB_NOPS ? "," : "");
        }
        printf("  ],\n  \"repeated_source\": {");
        for (int m = 0; m < 2; m++) {
            printf("%s\"%s\": {\"exec_pyshim_ns\": ", m ? ", " : "", m ? "batched" : "auto");
            json_num(med[PB_NOPS][SIDE_SHIM][m]);
            printf(", \"exec_runstring_ns\": ");
            json_num(med[PB_NOPS][SIDE_CAPI][m]);
            printf(", \"exec_speedup\": ");
            json_num(sp_exec[m]);
            printf(", \"eval_pyshim_ns\": ");
            json_num(med[PB_NOPS + 1][SIDE_SHIM][m]);
            printf(", \"eval_runstring_ns\": ");
            json_num(med[PB_NOPS + 1][SIDE_CAPI][m]);
            printf(", \"eval_speedup\": ");
            json_num(sp_eval[m]);
            printf("}");
        }
        printf("},\n  \"startup\": {\"pys_open_ns\": ");
        json_num(st_init[0]);
        printf(", \"py_initializeex_ns\": ");
        json_num(st_init[1]);
        printf(", \"ratio\": ");
        json_num(open_ratio);
        printf(", \"exec_to_ready_pyshim_ns\": ");
        json_num(st_exec[0]);
        printf(", \"exec_to_ready_capi_ns\": ");
        json_num(st_exec[1]);
        printf(", \"exec_to_ready_ratio\": ");
        json_num(exec_ratio);
        printf(", \"pys_open_cpu_ns\": ");
        json_num(st_icpu[0]);
        printf(", \"py_initializeex_cpu_ns\": ");
        json_num(st_icpu[1]);
        printf(", \"cpu_ratio\": ");
        json_num(icpu_ratio);
        printf(", \"exec_to_ready_cpu_ratio\": ");
        json_num(ecpu_ratio);
        printf("},\n  \"numpy_1m_zero_copy_ns\": ");
        json_num(skip_reason[PB_numpy_1m][0] ? NAN : numpy_ns);
        printf("\n}\n");
        return 0;
    }

    printf("pysbench: pyshim vs the direct C-API on the same libpython\n");
    printf("machine: %ld CPUs, %s\n", ncpu, cpu);
    printf("python:  %s (%s)\n", version, library);
    printf("method:  medians of %d runs x %d reps (~%d ms of thread CPU time each), both sides\n"
           "         back to back in one process; ratio = pyshim / C-API, lower is better\n\n",
           runs, reps, target_ms);
    bool pb11 = false;
    for (int i = 0; i < PB_NOPS; i++)
        pb11 |= ops_s[i][SIDE_PB11][MODE_BATCHED].n > 0;
    printf("%-46s %5s | %-31s | %-31s%s\n", "", "", "auto-GIL (target <= 1.25)",
           "batched (target <= 1.15)", pb11 ? " | pybind11, batched" : "");
    printf("%-46s %5s | %10s %10s %7s  | %10s %10s %7s%s\n", "op", "calls", "pyshim", "C-API",
           "ratio", "pyshim", "C-API", "ratio", pb11 ? "  |   pybind11 shim/pb11" : "");
    for (int i = 0; i < PB_NOPS; i++) {
        printf("%-46s %5d |", op_text[i], op_calls[i]);
        if (skip_reason[i][0]) {
            printf(" skipped: %s\n", skip_reason[i]);
            continue;
        }
        for (int m = 0; m < 2; m++) {
            char a1[32], a2[32];
            fmt_ns(a1, sizeof a1, med[i][SIDE_SHIM][m]);
            fmt_ns(a2, sizeof a2, med[i][SIDE_CAPI][m]);
            double r = med[i][SIDE_SHIM][m] / med[i][SIDE_CAPI][m];
            bool ok = r <= (m ? T_BATCH : T_AUTO);
            ok ? met++ : missed++;
            printf(" %10s %10s %6.2f%s %s", a1, a2, r, ok ? " " : "!", m ? "" : "|");
        }
        if (pb11 && ops_s[i][SIDE_PB11][MODE_BATCHED].n) {
            char a3[32];
            fmt_ns(a3, sizeof a3, med[i][SIDE_PB11][MODE_BATCHED]);
            printf(" | %10s %9.2f", a3,
                   med[i][SIDE_SHIM][MODE_BATCHED] / med[i][SIDE_PB11][MODE_BATCHED]);
        }
        printf("\n");
    }
    printf("('!' marks a missed target; 'calls' = pyshim calls per op = GIL round trips of the\n"
           " auto-GIL C baseline, which takes PyGILState_Ensure/Release around each step)\n\n");
    char a1[32], a2[32];
    for (int m = 0; m < 2; m++) {
        fmt_ns(a1, sizeof a1, med[PB_NOPS][SIDE_SHIM][m]);
        fmt_ns(a2, sizeof a2, med[PB_NOPS][SIDE_CAPI][m]);
        printf("repeated exec (%s): pys_exec %s vs PyRun_String %s: %.0fx faster (target >= %.0fx)%s\n",
               m ? "batched" : "auto-GIL", a1, a2, sp_exec[m], T_RUNSTRING,
               sp_exec[m] >= T_RUNSTRING ? "" : "  MISSED");
        fmt_ns(a1, sizeof a1, med[PB_NOPS + 1][SIDE_SHIM][m]);
        fmt_ns(a2, sizeof a2, med[PB_NOPS + 1][SIDE_CAPI][m]);
        printf("repeated eval (%s): pys_eval %s vs PyRun_String %s: %.0fx faster (target >= %.0fx)%s\n",
               m ? "batched" : "auto-GIL", a1, a2, sp_eval[m], T_RUNSTRING,
               sp_eval[m] >= T_RUNSTRING ? "" : "  MISSED");
    }
    if (skip_reason[PB_numpy_1m][0]) {
        printf("1M doubles to numpy, zero-copy: skipped (%s)\n", skip_reason[PB_numpy_1m]);
    } else {
        fmt_ns(a1, sizeof a1, numpy_ns);
        printf("1M doubles to numpy, zero-copy (auto-GIL, whole op): %s (target < 10 us)%s\n", a1,
               numpy_ns < T_NUMPY_NS ? "" : "  MISSED");
    }
    if (sruns) {
        fmt_ns(a1, sizeof a1, st_init[0]);
        fmt_ns(a2, sizeof a2, st_init[1]);
        printf("startup, %d processes each: pys_open %s vs Py_InitializeEx(0) %s: %.2fx "
               "(target <= %.1fx)%s\n",
               sruns, a1, a2, open_ratio, T_OPEN, open_ratio <= T_OPEN ? "" : "  MISSED");
        fmt_ns(a1, sizeof a1, st_exec[0]);
        fmt_ns(a2, sizeof a2, st_exec[1]);
        printf("  exec-to-ready (includes loading libpython: dlopen vs the dynamic linker): "
               "%s vs %s: %.2fx\n",
               a1, a2, exec_ratio);
        fmt_ns(a1, sizeof a1, st_icpu[0]);
        fmt_ns(a2, sizeof a2, st_icpu[1]);
        printf("  in process CPU time: pys_open %s vs Py_InitializeEx(0) %s: %.2fx%s; "
               "exec-to-ready %.2fx\n",
               a1, a2, icpu_ratio, icpu_ratio <= T_OPEN ? "" : "  MISSED", ecpu_ratio);
    }
    printf("\nper-op targets: %d met, %d missed\n", met, missed);
    return 0;
}

int main(int argc, char **argv)
{
    const char *child = pb_arg(argc, argv, "--child");
    if (!child)
        return runner(argc, argv);
    const char *lib = pb_arg(argc, argv, "--library");
    if (strcmp(child, "startup") != 0 || !lib) {
        fprintf(stderr, "pysbench: --child startup --library LIB [--t0 NS] is the only child mode\n");
        return 2;
    }
    return shim_startup(lib, pb_arg(argc, argv, "--t0"));
}
