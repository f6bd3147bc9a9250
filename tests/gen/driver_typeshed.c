/* Calls the bindings `pyshim gen` wrote for math (prefix tsmath) and
 * statistics (tsstats) with typeshed's types on the Python under test
 * (tests/gen/test_gen.c builds it with -DPY_MINOR=N), checking values
 * and errors.
 *   driver LIBPYTHON   -> exit 0 and "ok" when every check passed */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsmath.h"
#include "tsstats.h"

#include "driver_check.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    pys_options o = {0};
    o.library_path = argv[1];
    o.ignore_environment = true;
    pys_runtime *rt = NULL;
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 2;
    }
    double d = 0;
    int64_t i = 0;
    bool b = false;

    /* SupportsFloat | SupportsIndex parameters: doubles. */
    OK(tsmath_sqrt(rt, 2.25, &d));
    CHECK(d == 1.5);
    CHECK(tsmath_sqrt(rt, -1, &d) == PYS_E_PYTHON);
    CHECK(strcmp(pys_last_error()->type, "ValueError") == 0);
    CHECK(strstr(pys_last_error()->message, "math domain error") != NULL);
    OK(tsmath_atan2(rt, 1, 1, &d));
    CHECK(fabs(d - atan(1.0)) < 1e-15);
    OK(tsmath_copysign(rt, 3, -0.0, &d));
    CHECK(d == -3);
    OK(tsmath_isnan(rt, NAN, &b));
    CHECK(b);
    CHECK(tsmath_exp(rt, 1000, &d) == PYS_E_PYTHON);
    CHECK(strcmp(pys_last_error()->type, "OverflowError") == 0);
    /* tuple[float, int] -> out-parameters */
    OK(tsmath_frexp(rt, 8, &d, &i));
    CHECK(d == 0.5 && i == 4);
    /* SupportsIndex: int64_t, with Python's errors and pyshim's range check. */
    OK(tsmath_isqrt(rt, 17, &i));
    CHECK(i == 4);
    OK(tsmath_isqrt(rt, INT64_MAX, &i));
    CHECK(i == 3037000499);
    CHECK(tsmath_isqrt(rt, -1, &i) == PYS_E_PYTHON);
    CHECK(strcmp(pys_last_error()->type, "ValueError") == 0);
    OK(tsmath_factorial(rt, 20, &i));
    CHECK(i == INT64_C(2432902008176640000));
    CHECK(tsmath_factorial(rt, 21, &i) == PYS_E_OVERFLOW); /* 21! does not fit an int64_t */
    OK(tsmath_comb(rt, 10, 3, &i));
    CHECK(i == 120);
    /* Iterable[SupportsFloat | SupportsIndex]: an array of doubles. */
    const double tenth[10] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    OK(tsmath_fsum(rt, tenth, 10, &d));
    CHECK(d == 1.0);
    const double p[2] = {0, 0}, q[2] = {3, 4};
    OK(tsmath_dist(rt, p, 2, q, 2, &d));
    CHECK(d == 5.0);
    /* Keyword-only options. */
    tsmath_isclose_opts io = {0};
    io.abs_tol = 0.5;
    OK(tsmath_isclose(rt, 1.0, 1.25, &io, &b));
    CHECK(b);
    /* Fallbacks: floor is @overload'ed in typeshed; gcd has *integers
     * since 3.9 (typed with two ints before); hypot has no signature. */
    pys_obj x = pys_from_double(rt, 2.7), r = PYS_NULL;
    OK(tsmath_floor(rt, &x, 1, PYS_NULL, &r));
    OK(pys_to_int64(r, &i));
    CHECK(i == 2);
    pys_release(r);
    pys_release(x);
#if PY_MINOR >= 9
    pys_obj g[3] = {pys_from_int64(rt, 12), pys_from_int64(rt, 18), pys_from_int64(rt, 27)};
    OK(tsmath_gcd(rt, g, 3, PYS_NULL, &r));
    OK(pys_to_int64(r, &i));
    CHECK(i == 3);
    pys_release(r);
    for (int k = 0; k < 3; k++)
        pys_release(g[k]);
#else
    OK(tsmath_gcd(rt, 12, 18, &i));
    CHECK(i == 6);
#endif
    pys_obj a = pys_from_int64(rt, 3), bb = pys_from_int64(rt, 4);
    pys_obj ab[2] = {a, bb};
    OK(tsmath_hypot(rt, ab, 2, PYS_NULL, &r));
    OK(pys_to_double(r, &d));
    CHECK(d == 5.0);
    pys_release(r);
    pys_release(a);
    pys_release(bb);

    /* statistics: Iterable[_NumberT] -> _NumberT, bound to float by the
     * doubles passed. */
    const double xs[] = {1, 2, 3, 4};
    OK(tsstats_mean(rt, xs, 4, &d));
    CHECK(d == 2.5);
    OK(tsstats_median(rt, xs, 4, &d));
    CHECK(d == 2.5);
    OK(tsstats_pvariance(rt, xs, 4, NULL, &d));
    CHECK(d == 1.25);
    CHECK(tsstats_mean(rt, NULL, 0, &d) == PYS_E_PYTHON);
    CHECK(strstr(pys_last_error()->type, "StatisticsError") != NULL);

    CHECK(pys_close(rt) == PYS_OK);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
