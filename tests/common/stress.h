/* The 8-thread stress run shared by the Criterion test (normal and ASan
 * builds: tests/api/test_stress.c) and the ThreadSanitizer driver
 * (tests/api/tsan_threads.c). No Criterion here: results come back in a
 * struct, checked by the caller. */
#ifndef PYT_STRESS_H
#define PYT_STRESS_H

#include <pyshim.h>

typedef struct pyt_stress_result {
    long ops;          /* operations done, all threads */
    long calls;        /* calls that ran Python code and succeeded */
    long stale;        /* PYS_E_HANDLE: a handle another thread released */
    long timeouts;     /* PYS_E_TIMEOUT */
    long interrupted;  /* PYS_E_INTERRUPTED */
    long interrupts;   /* pys_interrupt calls that targeted a call */
    long released;     /* handles of other threads released */
    int failures;      /* results outside the contract */
    char first[512];   /* the first of them */
    double seconds;    /* how long it ran */
    size_t handles_before, handles_after;
} pyt_stress_result;

/* Seconds to run: PYSHIM_STRESS_SECONDS, default 20. */
double pyt_stress_seconds(void);
/* Runs 8 host threads for `seconds` against rt (open), mixing calls that
 * run Python code (some of which give the GIL up mid-call), handle
 * creation and conversion, releases of handles other threads are using,
 * batches with scopes, per-call deadlines that fire and pys_interrupt from
 * two of the threads. Every result must be one the API documents for the
 * situation. Leaves no handle behind; returns 0 when every check held. */
int pyt_stress_run(pys_runtime *rt, double seconds, pyt_stress_result *out);

#endif
