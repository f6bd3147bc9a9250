/* Builds the tiny package the dependency tests install offline. */
#ifndef PYSHIM_TEST_WHEEL_H
#define PYSHIM_TEST_WHEEL_H

/* Writes tinypkg 1.0 (tinypkg.VALUE = 42; console script tinypkg-hello)
 * under workdir and builds its wheel into workdir/wheels, with
 * `python -m pip wheel --no-deps --no-build-isolation --no-index`, or, where
 * setuptools is missing, by writing the wheel with zipfile. Returns the
 * malloc'd wheel directory, or NULL if no wheel could be made. */
char *pyt_make_tinypkg_wheel(const char *python, const char *workdir);

#endif
