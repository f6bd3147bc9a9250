/* Typed signatures: the parser and the rendering (bridge/bridge_sig.h).
 * A signature is parsed once, at registration; its errors name the public
 * call and the function so that a host can tell which registration failed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_sig.h"
#include "core/error.h"
#include "convert/codes.h"

void pys__br_sig_free(br_sig *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->np; i++) {
        free(s->p[i].name);
        free(s->p[i].def.s);
    }
    free(s);
}

const char *pys__br_code_type(char c)
{
    return pys__code_pytype(c);
}

typedef struct sig_parser {
    const char *start, *p;
    const char *fn, *fname;
    int rc;
} sig_parser;

static int sig_fail(sig_parser *sp, int code, const char *what)
{
    if (sp->rc == PYS_OK)
        sp->rc = pys__fail(sp->fn, code, "%s: signature \"%s\" of %s, at offset %d: %s", sp->fn,
                           sp->start, sp->fname, (int)(sp->p - sp->start), what);
    return sp->rc;
}

bool pys__br_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool pys__br_ident_char(char c)
{
    return pys__br_ident_start(c) || (c >= '0' && c <= '9');
}

/* Python keywords cannot name parameters (the text signature would not
 * parse, and callers could not pass them by keyword). */
static bool is_py_keyword(const char *s)
{
    static const char *const kw[] = {
        "False", "None",   "True",    "and",      "as",     "assert", "async",  "await",
        "break", "class",  "continue", "def",     "del",    "elif",   "else",   "except",
        "finally", "for",  "from",    "global",   "if",     "import", "in",     "is",
        "lambda", "nonlocal", "not",  "or",       "pass",   "raise",  "return", "try",
        "while", "with",   "yield"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strcmp(s, kw[i]) == 0)
            return true;
    return false;
}

static void skip_ws(sig_parser *sp)
{
    while (*sp->p == ' ' || *sp->p == ',' || *sp->p == '\t' || *sp->p == '\n')
        sp->p++;
}

static bool at_item_end(char c)
{
    return c == '\0' || c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '>';
}

static bool word(sig_parser *sp, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(sp->p, w, n) == 0 && at_item_end(sp->p[n])) {
        sp->p += n;
        return true;
    }
    return false;
}

/* Parses one default literal at sp->p into *l. */
static int parse_lit(sig_parser *sp, br_lit *l)
{
    if (word(sp, "None")) {
        l->kind = LIT_NONE;
        return PYS_OK;
    }
    if (word(sp, "True") || word(sp, "true")) {
        l->kind = LIT_BOOL;
        l->b = true;
        return PYS_OK;
    }
    if (word(sp, "False") || word(sp, "false")) {
        l->kind = LIT_BOOL;
        l->b = false;
        return PYS_OK;
    }
    char q = *sp->p;
    if (q == '\'' || q == '"') {
        pys__sb b = {0};
        const char *s = sp->p + 1;
        for (; *s && *s != q; s++) {
            char ch = *s;
            if (ch == '\\') {
                s++;
                switch (*s) {
                case 'n':
                    ch = '\n';
                    break;
                case 't':
                    ch = '\t';
                    break;
                case '\\':
                case '\'':
                case '"':
                    ch = *s;
                    break;
                default:
                    pys__sb_free(&b);
                    sp->p = s;
                    return sig_fail(sp, PYS_E_ARG, "unknown escape in a string default");
                }
            }
            pys__sb_addn(&b, &ch, 1);
        }
        if (*s != q) {
            pys__sb_free(&b);
            return sig_fail(sp, PYS_E_ARG, "unterminated string default");
        }
        l->n = b.len;
        l->s = b.s ? pys__sb_take(&b) : pys__strdup("");
        if (!l->s || b.oom)
            return sig_fail(sp, PYS_E_NOMEM, "out of memory");
        l->kind = LIT_STR;
        sp->p = s + 1;
        if (!at_item_end(*sp->p))
            return sig_fail(sp, PYS_E_ARG, "expected a separator after the default");
        return PYS_OK;
    }
    const char *s = sp->p;
    const char *e = s;
    while (!at_item_end(*e))
        e++;
    size_t n = (size_t)(e - s);
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return sig_fail(sp, PYS_E_ARG, "expected a default value");
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool hex = (buf[0] == '0' || ((buf[0] == '-' || buf[0] == '+') && buf[1] == '0')) &&
               strpbrk(buf, "xX");
    bool flt = !hex && strpbrk(buf, ".eEiInN"); /* inf and nan are refused below */
    char *end = NULL;
    errno = 0;
    if (flt) {
        l->d = strtod(buf, &end);
        if (*end || !isfinite(l->d))
            return sig_fail(sp, PYS_E_ARG, "bad float default (finite numbers only)");
        l->kind = LIT_FLOAT;
    } else if (buf[0] == '-') {
        l->i = strtoll(buf, &end, hex ? 16 : 10);
        if (*end || errno)
            return sig_fail(sp, PYS_E_ARG, "bad integer default");
        l->kind = LIT_INT;
    } else {
        l->u = strtoull(buf[0] == '+' ? buf + 1 : buf, &end, hex ? 16 : 10);
        if (*end || errno || buf[0] == '-')
            return sig_fail(sp, PYS_E_ARG, "bad default value");
        if (l->u <= (uint64_t)INT64_MAX) {
            l->kind = LIT_INT;
            l->i = (int64_t)l->u;
        } else {
            l->kind = LIT_UINT;
        }
    }
    sp->p = e;
    return PYS_OK;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): what Python decodes. */
static bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *e = s + n;
    while (s < e) {
        unsigned c = *s++;
        if (c < 0x80)
            continue;
        int more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
        if (more < 0 || e - s < more)
            return false;
        unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        if (s[0] < lo || s[0] > hi)
            return false;
        for (int i = 1; i < more; i++)
            if ((s[i] & 0xc0) != 0x80)
                return false;
        s += more;
    }
    return true;
}

/* Checks that a default suits its code (and normalises it). */
static int check_default(sig_parser *sp, br_param *pa)
{
    br_lit *l = &pa->def;
    bool ok = false;
    switch (pys__code_kind(pa->code)) {
    case PYS__CK_SINT:
        ok = l->kind == LIT_INT && l->i >= pys__code_lo(pa->code) &&
             (l->i < 0 || (uint64_t)l->i <= pys__code_hi(pa->code));
        break;
    case PYS__CK_UINT:
        ok = (l->kind == LIT_INT && l->i >= 0 && (uint64_t)l->i <= pys__code_hi(pa->code)) ||
             (l->kind == LIT_UINT && l->u <= pys__code_hi(pa->code));
        if (ok && l->kind == LIT_INT) {
            l->kind = LIT_UINT;
            l->u = (uint64_t)l->i;
        }
        break;
    case PYS__CK_REAL:
        ok = l->kind == LIT_FLOAT || l->kind == LIT_INT;
        if (ok && l->kind == LIT_INT) {
            l->kind = LIT_FLOAT;
            l->d = (double)l->i;
        }
        break;
    case PYS__CK_BOOL:
        ok = l->kind == LIT_BOOL || (l->kind == LIT_INT && (l->i == 0 || l->i == 1));
        if (ok && l->kind == LIT_INT) {
            l->kind = LIT_BOOL;
            l->b = l->i != 0;
        }
        break;
    default:
        switch (pa->code) {
        case 's':
        case 'y':
            ok = l->kind == LIT_STR || l->kind == LIT_NONE;
            if (ok && pa->code == 's' && l->kind == LIT_STR && strlen(l->s) != l->n)
                ok = false;
            break;
        case 'O':
            ok = true;
            break;
        }
    }
    if (ok && l->kind == LIT_STR && pa->code != 'y' && !utf8_valid(l->s, l->n)) {
        char what[128];
        snprintf(what, sizeof what, "the str default of parameter '%s' is not valid UTF-8",
                 pa->name ? pa->name : "?");
        return sig_fail(sp, PYS_E_ARG, what);
    }
    if (ok)
        return PYS_OK;
    char what[128];
    snprintf(what, sizeof what, "the default of parameter '%s' does not suit its type %s",
             pa->name ? pa->name : "?", pys__br_code_type(pa->code));
    return sig_fail(sp, PYS_E_ARG, what);
}

/* Parses a signature into a new br_sig, or returns an error (set). */
int pys__br_sig_parse(const char *sig, const char *fn, const char *fname, br_sig **out)
{
    *out = NULL;
    sig_parser sp = {.start = sig ? sig : "", .p = sig ? sig : "", .fn = fn, .fname = fname};
    if (!sig)
        return pys__fail(fn, PYS_E_ARG, "%s: %s has a C function but no signature", fn, fname);
    br_sig *s = calloc(1, sizeof *s);
    if (!s)
        return pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
    bool star = false, slash = false, named = false, defaulted = false;
    s->ret = 'n';
    for (;;) {
        skip_ws(&sp);
        char c = *sp.p;
        if (!c)
            break;
        if (c == '>') {
            sp.p++;
            skip_ws(&sp);
            char r = *sp.p;
            if (!r) {
                sig_fail(&sp, PYS_E_ARG, "missing return code after '>'");
                break;
            }
            if (pys__code_where(r) & PYS__CW_RET)
                s->ret = r;
            else if (r == 'y')
                sig_fail(&sp, PYS_E_UNSUPPORTED, "return code 'y' is not supported (use O)");
            else
                sig_fail(&sp, PYS_E_ARG, "unknown return code");
            sp.p++;
            skip_ws(&sp);
            if (*sp.p)
                sig_fail(&sp, PYS_E_ARG, "unexpected text after the return code");
            break;
        }
        if (c == '*') {
            if (star)
                sig_fail(&sp, PYS_E_ARG, "'*' appears twice");
            star = true;
            sp.p++;
            continue;
        }
        if (c == '/') {
            if (slash || star)
                sig_fail(&sp, PYS_E_ARG, "'/' must come once, before '*'");
            slash = true;
            for (int i = 0; i < s->np; i++)
                s->p[i].posonly = true;
            sp.p++;
            continue;
        }
        if (sp.rc != PYS_OK)
            break;
        char *name = NULL;
        if (pys__br_ident_start(c)) {
            const char *q = sp.p;
            while (pys__br_ident_char(*q))
                q++;
            if (*q == ':') {
                name = pys__strndup(sp.p, (size_t)(q - sp.p));
                if (!name) {
                    sig_fail(&sp, PYS_E_NOMEM, "out of memory");
                    break;
                }
                if (is_py_keyword(name)) {
                    free(name);
                    sig_fail(&sp, PYS_E_ARG, "a Python keyword cannot name a parameter");
                    break;
                }
                sp.p = q + 1;
                while (*sp.p == ' ')
                    sp.p++;
                c = *sp.p;
            }
        }
        if (!c || !(pys__code_where(c) & PYS__CW_PARAM)) {
            free(name);
            char what[64];
            if (c == 'f')
                snprintf(what, sizeof what, "code 'f' (float) is not supported; use 'd'");
            else
                snprintf(what, sizeof what, "unknown parameter code '%c'", c ? c : '?');
            sig_fail(&sp, c == 'f' ? PYS_E_UNSUPPORTED : PYS_E_ARG, what);
            break;
        }
        if (s->np == BR_MAXP) {
            free(name);
            sig_fail(&sp, PYS_E_UNSUPPORTED, "more than 14 parameters");
            break;
        }
        br_param *pa = &s->p[s->np++];
        pa->code = c;
        pa->name = name;
        sp.p++;
        if (!name && (named || star || slash)) {
            sig_fail(&sp, PYS_E_ARG,
                     "unnamed (positional-only) parameters must come first; name it as 'x:q'");
            break;
        }
        if (name) {
            named = true;
            pa->kwonly = star;
        } else {
            pa->posonly = true;
        }
        while (*sp.p == ' ')
            sp.p++;
        if (*sp.p == '=') {
            sp.p++;
            while (*sp.p == ' ')
                sp.p++;
            if (parse_lit(&sp, &pa->def) != PYS_OK)
                break;
            if (!pa->name) {
                char nb[16];
                snprintf(nb, sizeof nb, "arg%d", s->np);
                pa->name = pys__strdup(nb);
            }
            if (check_default(&sp, pa) != PYS_OK)
                break;
            if (!pa->kwonly)
                defaulted = true;
        } else if (defaulted && !pa->kwonly) {
            sig_fail(&sp, PYS_E_ARG, "a parameter without a default follows one with a default");
            break;
        }
        if (c == 'y')
            s->ni += 2;
        else if (pys__code_is_dbl(c))
            s->nd++;
        else
            s->ni++;
    }
    if (sp.rc == PYS_OK && star && (s->np == 0 || !s->p[s->np - 1].kwonly))
        sig_fail(&sp, PYS_E_ARG, "'*' must be followed by a named parameter");
    /* Names for unnamed parameters, duplicates, limits. */
    for (int i = 0; sp.rc == PYS_OK && i < s->np; i++) {
        br_param *pa = &s->p[i];
        if (!pa->name) {
            char nb[16];
            snprintf(nb, sizeof nb, "arg%d", i + 1);
            pa->name = pys__strdup(nb);
            if (!pa->name)
                sig_fail(&sp, PYS_E_NOMEM, "out of memory");
        }
        for (int j = 0; sp.rc == PYS_OK && j < i; j++)
            if (pa->name && strcmp(s->p[j].name, pa->name) == 0)
                sig_fail(&sp, PYS_E_ARG, "a parameter name is used twice");
        if (!pa->kwonly)
            s->npos++;
    }
    if (sp.rc == PYS_OK) {
        char what[160];
        if (!BR_TYPED) {
            sig_fail(&sp, PYS_E_UNSUPPORTED, "typed functions need a 64-bit platform");
        } else if (s->ni > BR_MAXI || s->nd > BR_MAXD) {
            snprintf(what, sizeof what,
                     "%d integer-class and %d double C parameters; the typed trampolines take "
                     "at most %d and %d (register a generic function instead)",
                     s->ni, s->nd, BR_MAXI, BR_MAXD);
            sig_fail(&sp, PYS_E_UNSUPPORTED, what);
        } else if (!BR_SPLIT && s->ni && s->nd) {
            sig_fail(&sp, PYS_E_UNSUPPORTED,
                     "mixing integer-class and double parameters is not supported on this "
                     "platform's calling convention");
        }
    }
    if (sp.rc != PYS_OK) {
        pys__br_sig_free(s);
        return sp.rc;
    }
    *out = s;
    return PYS_OK;
}

/* Python source of a default (for __text_signature__ and messages); a
 * bytes literal for a 'y' parameter. */
static void lit_repr(pys__sb *b, const br_lit *l, bool bytes)
{
    switch (l->kind) {
    case LIT_NONE:
        pys__sb_add(b, "None");
        break;
    case LIT_INT:
        pys__sb_addf(b, "%lld", (long long)l->i);
        break;
    case LIT_UINT:
        pys__sb_addf(b, "%llu", (unsigned long long)l->u);
        break;
    case LIT_FLOAT: {
        char nb[40];
        for (int prec = 15; prec <= 17; prec++) { /* shortest that reads back */
            snprintf(nb, sizeof nb, "%.*g", prec, l->d);
            if (strtod(nb, NULL) == l->d)
                break;
        }
        pys__sb_add(b, nb);
        if (!strpbrk(nb, ".eEn"))
            pys__sb_add(b, ".0");
        break;
    }
    case LIT_BOOL:
        pys__sb_add(b, l->b ? "True" : "False");
        break;
    case LIT_STR:
        pys__sb_add(b, bytes ? "b'" : "'");
        for (size_t i = 0; i < l->n; i++) {
            unsigned char ch = (unsigned char)l->s[i];
            if (ch == '\'' || ch == '\\')
                pys__sb_addf(b, "\\%c", ch);
            else if (ch == '\n')
                pys__sb_add(b, "\\n");
            else if (ch == '\t')
                pys__sb_add(b, "\\t");
            else if (ch < 0x20 || (bytes && ch >= 0x7f))
                pys__sb_addf(b, "\\x%02x", ch);
            else if (ch >= 0x80) {
                /* escaped: text signatures are ASCII (inspect reads them
                 * so); the UTF-8 is valid (check_default) */
                int more = ch >= 0xf0 ? 3 : ch >= 0xe0 ? 2 : 1;
                uint32_t cp = ch & (0x3fu >> more);
                for (int k = 0; k < more && i + 1 < l->n; k++)
                    cp = cp << 6 | ((unsigned char)l->s[++i] & 0x3fu);
                if (cp < 0x100)
                    pys__sb_addf(b, "\\x%02x", (unsigned)cp);
                else if (cp < 0x10000)
                    pys__sb_addf(b, "\\u%04x", (unsigned)cp);
                else
                    pys__sb_addf(b, "\\U%08x", (unsigned)cp);
            } else {
                pys__sb_addn(b, (const char *)&ch, 1);
            }
        }
        pys__sb_add(b, "'");
        break;
    }
}

/* "(a, b=1, /, *, c)" with annotations (typed) or without. */
void pys__br_sig_params(pys__sb *b, const br_sig *s, bool annotate)
{
    pys__sb_add(b, "(");
    bool first = true, star = false;
    int last_posonly = -1;
    for (int i = 0; i < s->np; i++)
        if (s->p[i].posonly)
            last_posonly = i;
    for (int i = 0; i < s->np; i++) {
        const br_param *pa = &s->p[i];
        if (pa->kwonly && !star) {
            pys__sb_add(b, first ? "*" : ", *");
            star = true;
            first = false;
        }
        pys__sb_add(b, first ? "" : ", ");
        first = false;
        pys__sb_add(b, pa->name);
        if (annotate)
            pys__sb_addf(b, ": %s", pys__br_code_type(pa->code));
        if (pa->def.kind != LIT_REQUIRED) {
            pys__sb_add(b, annotate ? " = " : "=");
            lit_repr(b, &pa->def, pa->code == 'y');
        }
        if (i == last_posonly)
            pys__sb_add(b, ", /");
    }
    pys__sb_add(b, ")");
}

int pys__bridge_sig_parse(const char *sig, char **text)
{
    *text = NULL;
    br_sig *s;
    int rc = pys__br_sig_parse(sig, __func__, "the function", &s);
    if (rc != PYS_OK)
        return rc;
    pys__sb b = {0};
    pys__br_sig_params(&b, s, true);
    pys__sb_addf(&b, " -> %s", pys__br_code_type(s->ret));
    pys__br_sig_free(s);
    *text = pys__sb_take(&b);
    if (!*text)
        return pys__fail(__func__, PYS_E_NOMEM, "%s: out of memory", __func__);
    return PYS_OK;
}
