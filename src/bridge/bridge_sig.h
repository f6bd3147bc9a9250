/* The bridge's typed-signature parser (bridge.c), exposed to the fuzz
 * target and tests: api layer internal. */
#ifndef PYS_BRIDGE_SIG_H
#define PYS_BRIDGE_SIG_H

/* Parses a signature exactly as pys_register_typed does ("qq>q",
 * "a:q, b:d=1.5, *, c:s='x' > O") and renders the annotated text
 * signature a registration shows ("(arg1: int, arg2: int, /) -> int").
 * Needs no runtime. Returns PYS_OK with *text malloc'd (the caller frees
 * it), or the parser's PYS_E_ARG / PYS_E_UNSUPPORTED / PYS_E_NOMEM with
 * the thread's error set and *text NULL. Thread-safe. */
int pys__bridge_sig_parse(const char *sig, char **text);

#endif
