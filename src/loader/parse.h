/* The loader's readers of outside input (pyvenv.cfg, ld.so.cache, the
 * dependency requirements), on a buffer, with no probe or cache around
 * them: loader layer internal, for the fuzz targets and tests. Each is a
 * thin entry into the code pys_open runs; none of them is thread-safe
 * against changes of the environment or the file system it reads. */
#ifndef PYS_LOADER_PARSE_H
#define PYS_LOADER_PARSE_H

#include <stddef.h>

#include "loader/loader.h"
#include "loader/pyvenv_cfg.h"

/* pys__venv_cfg_get (pyvenv.cfg text): loader/pyvenv_cfg.h. */

/* Parses an ld.so.cache image of len bytes (any content) and adds its
 * libpython entries to *out as the probe does (judged against the file
 * system, no pin, no venv). Returns false when the format is not
 * recognised; *nlib counts the libpython entries seen. *out starts empty
 * ((pys__probe){.chosen = -1}) and is freed with pys__probe_free. */
bool pys__ldcache_parse(const unsigned char *buf, size_t len, pys__probe *out, size_t *nlib);

/* Validates and normalises req as pys__deps_ensure does (requirements,
 * find_links, index_url, the base interpreter), without building
 * anything, and writes the 64 hex digits of its cache key to hex.
 * Returns PYS_OK, or PYS_E_ARG / PYS_E_NOMEM with d filled. */
int pys__deps_key(const pys__deps_req *req, char hex[65], pys__diag *d);

#endif
