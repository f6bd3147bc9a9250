/* Clock helpers for the tests and the TSan driver (header-only: the driver
 * does not link the Criterion helpers). */
#ifndef PYSHIM_CLOCK_H
#define PYSHIM_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock. Thread-safe. */
static inline double pyt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sleeps ms milliseconds, resuming after a signal. Thread-safe. */
static inline void pyt_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

#endif
