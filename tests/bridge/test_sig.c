/* The bridge's typed-signature parser alone (src/bridge/sig.c): no Python,
 * no runtime; runs once. What it accepts (the parsed form and the text
 * signature a registration shows), and what it refuses, with which code
 * and message, set as the calling thread's error. tests/api/test_bridge.c
 * checks the same signatures through registered functions, per Python. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim.h"
#include "bridge/bridge_sig.h"

#define FN "pys_register_typed"
#define FNAME "c_bridge.f"

/* Parses s, which must be accepted; the caller frees the result. */
static br_sig *accept(const char *s)
{
    br_sig *sig = (br_sig *)(uintptr_t)1;
    int rc = pys__br_sig_parse(s, FN, FNAME, &sig);
    cr_assert_eq(rc, PYS_OK, "\"%s\" refused: %s (%s)", s, pys_err_name(rc),
                 pys_last_error()->message);
    cr_assert_not_null(sig);
    return sig;
}

/* The annotated text signature of s ("(a: int, /) -> int"), which must be
 * accepted, in a static buffer. */
static const char *text(const char *s)
{
    static char buf[1024];
    char *t = (char *)(uintptr_t)1;
    int rc = pys__bridge_sig_parse(s, &t);
    cr_assert_eq(rc, PYS_OK, "\"%s\" refused: %s (%s)", s, pys_err_name(rc),
                 pys_last_error()->message);
    cr_assert_not_null(t);
    snprintf(buf, sizeof buf, "%s", t);
    free(t);
    return buf;
}

/* The bare form of s's parameters ("(a, b=1, /)"), as __text_signature__
 * shows them, in a static buffer. */
static const char *bare(const char *s)
{
    static char buf[1024];
    br_sig *sig = accept(s);
    pys__sb b = {0};
    pys__br_sig_params(&b, sig, false);
    char *t = pys__sb_take(&b);
    cr_assert_not_null(t);
    snprintf(buf, sizeof buf, "%s", t);
    free(t);
    pys__br_sig_free(sig);
    return buf;
}

/* s must be refused with `code`, a message holding `part` (and naming the
 * call, the signature and the function), the thread's error set to it and
 * both results NULL. */
static void refuse(const char *s, int code, const char *part)
{
    br_sig *sig = (br_sig *)(uintptr_t)1;
    int rc = pys__br_sig_parse(s, FN, FNAME, &sig);
    const pys_error *e = pys_last_error();
    cr_assert_eq(rc, code, "\"%s\": got %s (%s), expected %s", s ? s : "(null)",
                 pys_err_name(rc), rc ? e->message : "accepted", pys_err_name(code));
    cr_assert_null(sig, "\"%s\": *out must be NULL on refusal", s ? s : "(null)");
    cr_assert_eq(e->code, code, "\"%s\": the thread's error is %s", s ? s : "(null)",
                 pys_err_name(e->code));
    cr_assert_str_eq(e->context, FN);
    cr_assert(strstr(e->message, part), "\"%s\": message \"%s\" lacks \"%s\"", s ? s : "(null)",
              e->message, part);
    cr_assert(strncmp(e->message, FN ": ", strlen(FN ": ")) == 0, "%s", e->message);
    cr_assert(strstr(e->message, FNAME), "%s", e->message);

    /* The rendering entry point refuses it the same way. */
    char *t = (char *)(uintptr_t)1;
    rc = pys__bridge_sig_parse(s, &t);
    cr_assert_eq(rc, code, "\"%s\" (rendered): got %s", s ? s : "(null)", pys_err_name(rc));
    cr_assert_null(t);
    cr_assert_eq(pys_last_error()->code, code);
    cr_assert(strstr(pys_last_error()->message, part), "%s", pys_last_error()->message);
}

/* ---- accepted -------------------------------------------------------------------- */

Test(sig, positional_codes)
{
    br_sig *s = accept("qq>q");
    cr_assert_eq(s->np, 2);
    cr_assert_eq(s->npos, 2);
    cr_assert_eq(s->ni, 2);
    cr_assert_eq(s->nd, 0);
    cr_assert_eq(s->ret, 'q');
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(s->p[i].code, 'q');
        cr_assert(s->p[i].posonly && !s->p[i].kwonly);
        cr_assert_eq(s->p[i].def.kind, LIT_REQUIRED);
    }
    cr_assert_str_eq(s->p[0].name, "arg1");
    cr_assert_str_eq(s->p[1].name, "arg2");
    pys__br_sig_free(s);
    cr_assert_str_eq(text("qq>q"), "(arg1: int, arg2: int, /) -> int");
    cr_assert_str_eq(bare("qq>q"), "(arg1, arg2, /)");

    /* Separators: spaces, commas, tabs, newlines, in any number. */
    cr_assert_str_eq(text("q, q > q"), "(arg1: int, arg2: int, /) -> int");
    cr_assert_str_eq(text(" q\tq\n>\tq "), "(arg1: int, arg2: int, /) -> int");
    cr_assert_str_eq(text(",,q,,"), "(arg1: int, /) -> None");

    /* Nothing at all: no parameters, returns None. */
    s = accept("");
    cr_assert_eq(s->np, 0);
    cr_assert_eq(s->ret, 'n');
    pys__br_sig_free(s);
    cr_assert_str_eq(text(""), "() -> None");
    cr_assert_str_eq(text(">d"), "() -> float");

    /* Integer-class and double C arguments are counted apart; y is two
     * (pointer and length). */
    s = accept("qdyd>d");
    cr_assert_eq(s->ni, 3);
    cr_assert_eq(s->nd, 2);
    pys__br_sig_free(s);
}

Test(sig, every_value_code)
{
    static const struct {
        char code;
        const char *type;
        int ni, nd;
    } codes[] = {
        {'q', "int", 1, 0},  {'Q', "int", 1, 0},   {'i', "int", 1, 0},    {'d', "float", 0, 1},
        {'b', "bool", 1, 0}, {'s', "str", 1, 0},   {'y', "bytes", 2, 0},  {'O', "object", 1, 0},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char src[16], want[64];
        snprintf(src, sizeof src, "x:%c", codes[i].code);
        br_sig *s = accept(src);
        cr_assert_eq(s->np, 1);
        cr_assert_eq(s->p[0].code, codes[i].code, "%s", src);
        cr_assert_str_eq(s->p[0].name, "x");
        cr_assert(!s->p[0].posonly && !s->p[0].kwonly, "%s", src);
        cr_assert_eq(s->ni, codes[i].ni, "%s", src);
        cr_assert_eq(s->nd, codes[i].nd, "%s", src);
        pys__br_sig_free(s);
        cr_assert_str_eq(pys__br_code_type(codes[i].code), codes[i].type);
        snprintf(want, sizeof want, "(x: %s) -> None", codes[i].type);
        cr_assert_str_eq(text(src), want, "%s", src);
        /* unnamed too */
        snprintf(src, sizeof src, "%c", codes[i].code);
        snprintf(want, sizeof want, "(arg1: %s, /) -> None", codes[i].type);
        cr_assert_str_eq(text(src), want, "%s", src);
    }
    cr_assert_str_eq(pys__br_code_type('n'), "None");
    cr_assert_str_eq(pys__br_code_type('z'), "?");
}

Test(sig, every_return_code)
{
    static const struct {
        char code;
        const char *type;
    } rets[] = {{'q', "int"}, {'Q', "int"}, {'i', "int"},    {'d', "float"},
                {'b', "bool"}, {'s', "str"}, {'O', "object"}, {'n', "None"}};
    for (size_t i = 0; i < sizeof rets / sizeof rets[0]; i++) {
        char src[16], want[64];
        snprintf(src, sizeof src, "q>%c", rets[i].code);
        br_sig *s = accept(src);
        cr_assert_eq(s->ret, rets[i].code, "%s", src);
        pys__br_sig_free(s);
        snprintf(want, sizeof want, "(arg1: int, /) -> %s", rets[i].type);
        cr_assert_str_eq(text(src), want);
    }
    br_sig *s = accept("q");
    cr_assert_eq(s->ret, 'n', "no '>': returns None");
    pys__br_sig_free(s);
}

Test(sig, named_slash_star_and_keyword_only)
{
    br_sig *s = accept("a:q, b: d > d");
    cr_assert_eq(s->np, 2);
    cr_assert_eq(s->npos, 2);
    cr_assert_str_eq(s->p[0].name, "a");
    cr_assert_str_eq(s->p[1].name, "b");
    cr_assert_eq(s->p[1].code, 'd');
    cr_assert(!s->p[0].posonly && !s->p[1].posonly);
    pys__br_sig_free(s);
    cr_assert_str_eq(text("a:q, b: d > d"), "(a: int, b: float) -> float");

    s = accept("a:q, /, b:q, *, c:q");
    cr_assert(s->p[0].posonly && !s->p[0].kwonly);
    cr_assert(!s->p[1].posonly && !s->p[1].kwonly);
    cr_assert(!s->p[2].posonly && s->p[2].kwonly);
    cr_assert_eq(s->npos, 2, "keyword-only ones are not positional");
    pys__br_sig_free(s);
    cr_assert_str_eq(text("a:q, /, b:q, *, c:q"), "(a: int, /, b: int, *, c: int) -> None");
    cr_assert_str_eq(bare("a:q, /, b:q, *, c:q"), "(a, /, b, *, c)");

    /* Unnamed ones first, then named ones: the '/' goes after the unnamed. */
    s = accept("q, a:q");
    cr_assert(s->p[0].posonly && !s->p[1].posonly);
    pys__br_sig_free(s);
    cr_assert_str_eq(text("q, a:q"), "(arg1: int, /, a: int) -> None");
    cr_assert_str_eq(text("*, c:s"), "(*, c: str) -> None");
    cr_assert_str_eq(text("q, /"), "(arg1: int, /) -> None");

    /* Names: identifiers with digits and underscores; soft keywords and
     * builtins are fine. */
    cr_assert_str_eq(bare("_x1:q, classy:q, match:q, print:q"), "(_x1, classy, match, print)");

    /* Keyword-only parameters may be required after defaulted ones. */
    cr_assert_str_eq(text("a:q=1, *, b:q"), "(a: int = 1, *, b: int) -> None");
}

Test(sig, default_literals)
{
    br_sig *s = accept("a:q=-5, b:q=0x10, c:q=+7, d:q=-0x10, e:i=-2147483648, f:i=2147483647");
    cr_assert_eq(s->p[0].def.kind, LIT_INT);
    cr_assert_eq(s->p[0].def.i, -5);
    cr_assert_eq(s->p[1].def.i, 16);
    cr_assert_eq(s->p[2].def.i, 7);
    cr_assert_eq(s->p[3].def.i, -16);
    cr_assert_eq(s->p[4].def.i, INT32_MIN);
    cr_assert_eq(s->p[5].def.i, INT32_MAX);
    pys__br_sig_free(s);
    cr_assert_str_eq(bare("a:q=-5, b:q=0x10, c:q=-9223372036854775808"),
                     "(a=-5, b=16, c=-9223372036854775808)");

    /* Q: non-negative, kept unsigned */
    s = accept("a:Q=18446744073709551615, b:Q=5, c:O=18446744073709551615");
    cr_assert_eq(s->p[0].def.kind, LIT_UINT);
    cr_assert_eq(s->p[0].def.u, UINT64_MAX);
    cr_assert_eq(s->p[1].def.kind, LIT_UINT, "an int default of a Q parameter becomes unsigned");
    cr_assert_eq(s->p[1].def.u, 5);
    cr_assert_eq(s->p[2].def.kind, LIT_UINT);
    pys__br_sig_free(s);
    cr_assert_str_eq(bare("a:Q=18446744073709551615, b:Q=0"), "(a=18446744073709551615, b=0)");

    /* float: ints become floats; shown with the fewest digits that read back */
    s = accept("a:d=1.5, b:d=2, c:d=-1e-3");
    cr_assert_eq(s->p[0].def.kind, LIT_FLOAT);
    cr_assert_float_eq(s->p[0].def.d, 1.5, 0);
    cr_assert_eq(s->p[1].def.kind, LIT_FLOAT);
    cr_assert_float_eq(s->p[1].def.d, 2.0, 0);
    cr_assert_float_eq(s->p[2].def.d, -1e-3, 0);
    pys__br_sig_free(s);
    cr_assert_str_eq(bare("a:d=1.5, b:d=2, c:d=0.1, d:d=1e300, e:d=0.30000000000000004"),
                     "(a=1.5, b=2.0, c=0.1, d=1e+300, e=0.30000000000000004)");

    /* bool: True/False, true/false, 0/1 for b */
    s = accept("a:b=True, b:b=false, c:b=1, d:b=0, e:O=True");
    cr_assert_eq(s->p[0].def.kind, LIT_BOOL);
    cr_assert(s->p[0].def.b && !s->p[1].def.b && s->p[2].def.b && !s->p[3].def.b);
    cr_assert_eq(s->p[2].def.kind, LIT_BOOL, "1 for a bool parameter becomes True");
    cr_assert_eq(s->p[4].def.kind, LIT_BOOL);
    pys__br_sig_free(s);
    cr_assert_str_eq(bare("a:b=True, b:b=false, c:b=1"), "(a=True, b=False, c=True)");

    /* None: for s, y, O */
    s = accept("a:s=None, b:y=None, c:O=None");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s->p[i].def.kind, LIT_NONE);
    pys__br_sig_free(s);
    cr_assert_str_eq(text("a:s=None, b:y=None, c:O=None"),
                     "(a: str = None, b: bytes = None, c: object = None) -> None");

    /* unnamed parameters may have defaults too */
    cr_assert_str_eq(text("q, q=2"), "(arg1: int, arg2: int = 2, /) -> None");
}

Test(sig, string_defaults_escapes_and_utf8)
{
    br_sig *s = accept("a:s='it\\'s\\n', b:s=\"q\\\"\\t\\\\\", c:s=''");
    cr_assert_eq(s->p[0].def.kind, LIT_STR);
    cr_assert_str_eq(s->p[0].def.s, "it's\n");
    cr_assert_eq(s->p[0].def.n, 5);
    cr_assert_str_eq(s->p[1].def.s, "q\"\t\\");
    cr_assert_str_eq(s->p[2].def.s, "");
    cr_assert_eq(s->p[2].def.n, 0);
    pys__br_sig_free(s);
    cr_assert_str_eq(bare("a:s='it\\'s\\n', b:s=\"q\\\"\\t\\\\\", c:s=''"),
                     "(a='it\\'s\\n', b='q\"\\t\\\\', c='')");

    /* Non-ASCII str defaults: valid UTF-8, shown escaped (text signatures
     * are ASCII). */
    cr_assert_str_eq(bare("a:s='h\xc3\xa9', b:s='\xe2\x82\xac', c:s='\xf0\x9f\x98\x80'"),
                     "(a='h\\xe9', b='\\u20ac', c='\\U0001f600')");
    cr_assert_str_eq(text("tag:s='\x01'"), "(tag: str = '\\x01') -> None");

    /* bytes defaults: any bytes, shown as a bytes literal */
    s = accept("data:y='\xff\x01'");
    cr_assert_eq(s->p[0].def.n, 2);
    cr_assert_eq((unsigned char)s->p[0].def.s[0], 0xff);
    pys__br_sig_free(s);
    cr_assert_str_eq(text("data:y='\xff\x01', t:y='a\\tb'"),
                     "(data: bytes = b'\\xff\\x01', t: bytes = b'a\\tb') -> None");

    /* object defaults of every kind */
    cr_assert_str_eq(bare("a:O=1, b:O=1.5, c:O=True, d:O='s', e:O=None"),
                     "(a=1, b=1.5, c=True, d='s', e=None)");
}

Test(sig, full_signature_text)
{
    const char *src = "a:q, b:d=2.5, /, c:s='x', *, d:b=True, e:O=None > O";
    cr_assert_str_eq(text(src), "(a: int, b: float = 2.5, /, c: str = 'x', *, d: bool = True, "
                                "e: object = None) -> object");
    cr_assert_str_eq(bare(src), "(a, b=2.5, /, c='x', *, d=True, e=None)");
}

Test(sig, register_limits)
{
    cr_assert_str_eq(bare("qqqqqq"), "(arg1, arg2, arg3, arg4, arg5, arg6, /)");
    br_sig *s = accept("dddddddd>d");
    cr_assert_eq(s->nd, BR_MAXD);
    pys__br_sig_free(s);
    s = accept("yyy");
    cr_assert_eq(s->ni, BR_MAXI, "three bytes parameters fill the integer registers");
    pys__br_sig_free(s);
#if BR_TYPED && BR_SPLIT
    s = accept("qqqqqqdddddddd>d");
    cr_assert_eq(s->np, BR_MAXP);
    cr_assert(s->ni == BR_MAXI && s->nd == BR_MAXD);
    pys__br_sig_free(s);
#elif BR_TYPED
    refuse("qd", PYS_E_UNSUPPORTED, "mixing integer-class and double parameters");
#else
    refuse("q", PYS_E_UNSUPPORTED, "64-bit platform");
#endif
}

/* ---- refused ----------------------------------------------------------------------- */

Test(sig, refused_codes_and_return_codes)
{
    refuse("qx>q", PYS_E_ARG, "unknown parameter code 'x'");
    refuse("a:z", PYS_E_ARG, "unknown parameter code 'z'");
    refuse("a:", PYS_E_ARG, "unknown parameter code '?'");
    refuse("f>f", PYS_E_UNSUPPORTED, "code 'f' (float) is not supported; use 'd'");
    refuse("-", PYS_E_ARG, "unknown parameter code '-'");
    refuse("qq>", PYS_E_ARG, "missing return code after '>'");
    refuse("qq> ", PYS_E_ARG, "missing return code after '>'");
    refuse("qq>z", PYS_E_ARG, "unknown return code");
    refuse("q>y", PYS_E_UNSUPPORTED, "return code 'y' is not supported (use O)");
}

Test(sig, refused_trailing_text)
{
    refuse("qq>qq", PYS_E_ARG, "unexpected text after the return code");
    refuse("q>q junk", PYS_E_ARG, "unexpected text after the return code");
    refuse("q>q)", PYS_E_ARG, "unexpected text after the return code");
    refuse("q>q>q", PYS_E_ARG, "unexpected text after the return code");
    refuse("a:s='x'y", PYS_E_ARG, "expected a separator after the default");
}

Test(sig, refused_too_many_parameters)
{
    refuse("qqqqqqq>q", PYS_E_UNSUPPORTED,
           "7 integer-class and 0 double C parameters; the typed trampolines take at most 6 "
           "and 8");
    refuse("ddddddddd>d", PYS_E_UNSUPPORTED, "0 integer-class and 9 double");
    refuse("yyyq", PYS_E_UNSUPPORTED, "7 integer-class");
    refuse("qqqqqqddddddddd", PYS_E_UNSUPPORTED, "more than 14 parameters");
}

Test(sig, refused_names)
{
    refuse("a:q, a:d", PYS_E_ARG, "a parameter name is used twice");
    refuse("q, arg1:q", PYS_E_ARG, "a parameter name is used twice");
    refuse("q=1, arg1:q=2", PYS_E_ARG, "a parameter name is used twice");
    static const char *const keywords[] = {
        "False", "None",     "True",  "and",    "as",     "assert", "async", "await", "break",
        "class", "continue", "def",   "del",    "elif",   "else",   "except", "finally", "for",
        "from",  "global",   "if",    "import", "in",     "is",     "lambda", "nonlocal", "not",
        "or",    "pass",     "raise", "return", "try",    "while",  "with",  "yield"};
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
        char src[32];
        snprintf(src, sizeof src, "x:q, %s:q", keywords[i]);
        refuse(src, PYS_E_ARG, "a Python keyword cannot name a parameter");
    }
    /* Names are ASCII identifiers: anything else is not a name. */
    refuse("\xc3\xa9:q", PYS_E_ARG, "unknown parameter code");
    refuse("a\xc3\xa9:q", PYS_E_ARG, "unknown parameter code");
    refuse("1a:q", PYS_E_ARG, "unknown parameter code '1'");
}

Test(sig, refused_order)
{
    refuse("a:q=1, b:q", PYS_E_ARG, "a parameter without a default follows one with a default");
    refuse("q=1, q", PYS_E_ARG, "a parameter without a default follows one with a default");
    refuse("a:q, q", PYS_E_ARG,
           "unnamed (positional-only) parameters must come first; name it as 'x:q'");
    refuse("a:q, *, q", PYS_E_ARG, "must come first");
    refuse("q, /, q", PYS_E_ARG, "must come first");
    refuse("**", PYS_E_ARG, "'*' appears twice");
    refuse("*, a:q, *, b:q", PYS_E_ARG, "'*' appears twice");
    refuse("a:q, *", PYS_E_ARG, "'*' must be followed by a named parameter");
    refuse("*", PYS_E_ARG, "'*' must be followed by a named parameter");
    refuse("a:q, *, b:q, /", PYS_E_ARG, "'/' must come once, before '*'");
    refuse("a:q, /, /", PYS_E_ARG, "'/' must come once, before '*'");
}

Test(sig, refused_defaults_of_the_wrong_kind)
{
    static const struct {
        const char *sig, *type;
    } bad[] = {
        {"a:q='x'", "int"},        {"a:q=1.5", "int"},   {"a:q=None", "int"},
        {"a:q=True", "int"},       {"a:q=18446744073709551615", "int"},
        {"a:i=3000000000", "int"}, {"a:i=-2147483649", "int"},
        {"a:Q=-1", "int"},         {"a:Q=1.0", "int"},
        {"a:d='x'", "float"},      {"a:d=None", "float"}, {"a:d=True", "float"},
        {"a:b=2", "bool"},         {"a:b='x'", "bool"},  {"a:b=None", "bool"},
        {"a:s=1", "str"},          {"a:s=True", "str"},
        {"a:y=1.5", "bytes"},      {"a:y=0", "bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "the default of parameter 'a' does not suit its type %s",
                 bad[i].type);
        refuse(bad[i].sig, PYS_E_ARG, want);
    }
    /* unnamed: the name it gets */
    refuse("q='x'", PYS_E_ARG, "the default of parameter 'arg1' does not suit its type int");
}

Test(sig, refused_literals)
{
    refuse("a:d=inf", PYS_E_ARG, "bad float default (finite numbers only)");
    refuse("a:d=-inf", PYS_E_ARG, "finite numbers only");
    refuse("a:d=nan", PYS_E_ARG, "finite numbers only");
    refuse("a:d=1e999", PYS_E_ARG, "finite numbers only");
    refuse("a:d=1.5x", PYS_E_ARG, "bad float default");
    refuse("a:q=99999999999999999999", PYS_E_ARG, "bad default value");
    refuse("a:q=-99999999999999999999", PYS_E_ARG, "bad integer default");
    refuse("a:q=12abc", PYS_E_ARG, "bad default value");
    refuse("a:q=0xzz", PYS_E_ARG, "bad default value");
    refuse("a:q=", PYS_E_ARG, "expected a default value");
    refuse("a:q=>q", PYS_E_ARG, "expected a default value");
    refuse("a:s='unterminated", PYS_E_ARG, "unterminated string default");
    refuse("a:s='a\\q'", PYS_E_ARG, "unknown escape in a string default");
    refuse("a:s='a\\0'", PYS_E_ARG, "unknown escape in a string default");
}

Test(sig, refused_str_defaults_not_utf8)
{
    static const char *const bad[] = {
        "a:s='a\xff'",             /* not a lead byte */
        "a:s='\xc3'",              /* truncated */
        "a:s='\xe2\x82'",          /* truncated */
        "a:s='\xc0\xaf'",          /* overlong */
        "a:s='\xe0\x80\xaf'",      /* overlong */
        "a:s='\xed\xa0\x80'",      /* a surrogate */
        "a:s='\xf4\x90\x80\x80'",  /* past U+10FFFF */
        "a:s='\xf5\x80\x80\x80'",  /* never a lead byte */
        "a:O='\xff'",              /* an O default is a str too */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refuse(bad[i], PYS_E_ARG, "the str default of parameter 'a' is not valid UTF-8");
    /* the largest code point is fine, and a bytes default may be anything */
    cr_assert_str_eq(bare("a:s='\xf4\x8f\xbf\xbf', b:y='\xed\xa0\x80'"),
                     "(a='\\U0010ffff', b=b'\\xed\\xa0\\x80')");
}

Test(sig, refused_null)
{
    refuse(NULL, PYS_E_ARG, "has a C function but no signature");
    br_sig *s = NULL;
    cr_assert_eq(pys__br_sig_parse(NULL, FN, FNAME, &s), PYS_E_ARG);
    cr_assert_str_eq(pys_last_error()->message,
                     FN ": " FNAME " has a C function but no signature");
}

Test(sig, message_names_call_signature_function_and_offset)
{
    br_sig *s = NULL;
    int rc = pys__br_sig_parse("qx>q", FN, FNAME, &s);
    cr_assert_eq(rc, PYS_E_ARG);
    cr_assert_str_eq(pys_last_error()->message,
                     FN ": signature \"qx>q\" of " FNAME ", at offset 1: unknown parameter code 'x'");
    cr_assert_str_eq(pys_last_error()->type, "");
    char *t = NULL;
    cr_assert_eq(pys__bridge_sig_parse("a:q, a:q", &t), PYS_E_ARG);
    cr_assert_str_eq(pys_last_error()->context, "pys__bridge_sig_parse");
    cr_assert(strstr(pys_last_error()->message, "signature \"a:q, a:q\" of the function"), "%s",
              pys_last_error()->message);
}

/* The error detail is the calling thread's: a refusal sets it; a success
 * leaves it as it was (it lives until the next failing call); another
 * thread's refusal does not touch it. */
static void *refuse_on_thread(void *arg)
{
    br_sig *s = NULL;
    int rc = pys__br_sig_parse("q>z", FN, FNAME, &s);
    bool ok = rc == PYS_E_ARG && s == NULL && pys_last_error()->code == PYS_E_ARG &&
              strstr(pys_last_error()->message, "unknown return code");
    return ok ? arg : NULL;
}

Test(sig, error_is_the_threads)
{
    cr_assert_eq(pys_last_error()->code, PYS_OK, "a fresh thread has no error");
    refuse("qq>", PYS_E_ARG, "missing return code");
    br_sig *s = accept("qq>q");
    pys__br_sig_free(s);
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG, "a success leaves the last error");
    cr_assert(strstr(pys_last_error()->message, "missing return code"));

    pthread_t th;
    int token;
    void *res = NULL;
    cr_assert_eq(pthread_create(&th, NULL, refuse_on_thread, &token), 0);
    cr_assert_eq(pthread_join(th, &res), 0);
    cr_assert_eq(res, &token, "the other thread saw its own refusal");
    cr_assert(strstr(pys_last_error()->message, "missing return code"),
              "another thread's refusal is not this thread's error: %s",
              pys_last_error()->message);
}

/* Freeing: NULL is a no-op; what a parse owns (names, string defaults)
 * goes with it (LeakSanitizer checks it in the ASan build). */
Test(sig, free)
{
    pys__br_sig_free(NULL);
    pys__br_sig_free(accept("q, b:s='x', *, c:y='y', d:O='z'"));
}
