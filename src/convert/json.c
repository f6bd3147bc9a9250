/* cJSON trees to and from Python values.
 *
 * JSON numbers carry no int/float distinction in cJSON, so an integral
 * value with |v| <= 2^53 becomes an int and anything else a float; in the
 * other direction an int beyond 2^53 cannot be represented exactly and is
 * PYS_E_OVERFLOW rather than a silently rounded number. A number beyond a
 * double's range (1e400, which cJSON reads as infinity) is PYS_E_OVERFLOW
 * too, not an infinity that would not convert back. Cycles are caught
 * by keeping the containers on the current path; depth is bounded by
 * PYS_JSON_MAX_DEPTH. Errors name the path to the bad value ("$.a[3]").
 * JSON text must be exactly one value; text that is not UTF-8 is
 * PYS_E_VALUE, in keys as in values. */
#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"

#define EXACT_INT_LIMIT 9007199254740992.0 /* 2^53 */

/* ---- JSON -> Python -------------------------------------------------------------- */

/* A str from cJSON's UTF-8 bytes; text that is not UTF-8 is PYS_E_VALUE
 * (error set, no exception), whether it is a value or a key. */
static PyObject *utf8(const char *s, const char *what, const char *fn)
{
    PyObject *o = pys__api.PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "strict");
    if (!o) {
        pys__api.PyErr_Clear();
        pys__fail(fn, PYS_E_VALUE, "%s: %s is not valid UTF-8", fn, what);
    }
    return o;
}

static PyObject *from_json(pys_runtime *rt, const cJSON *j, int depth, const char *fn)
{
    if (depth > PYS_JSON_MAX_DEPTH) {
        pys__fail(fn, PYS_E_VALUE, "%s: JSON nested deeper than %d levels", fn,
                  PYS_JSON_MAX_DEPTH);
        return NULL;
    }
    PyObject *o = NULL;
    if (cJSON_IsNull(j)) {
        pys__api.Py_IncRef(PYS__None);
        return PYS__None;
    }
    if (cJSON_IsTrue(j) || cJSON_IsFalse(j)) {
        return pys__api.PyBool_FromLong(cJSON_IsTrue(j));
    }
    if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (!isfinite(v)) {
            /* cJSON reads 1e400 as infinity: a value with no JSON form. */
            pys__fail(fn, PYS_E_OVERFLOW, "%s: a JSON number beyond the range of a double", fn);
            return NULL;
        }
        if (floor(v) == v && fabs(v) <= EXACT_INT_LIMIT)
            o = pys__api.PyLong_FromLongLong((long long)v);
        else
            o = pys__api.PyFloat_FromDouble(v);
    } else if (cJSON_IsString(j)) {
        o = utf8(j->valuestring ? j->valuestring : "", "a JSON string", fn);
        if (!o)
            return NULL;
    } else if (cJSON_IsArray(j)) {
        o = pys__api.PyList_New(0);
        for (const cJSON *c = j->child; o && c; c = c->next) {
            PyObject *v = from_json(rt, c, depth + 1, fn);
            if (!v || pys__api.PyList_Append(o, v) < 0) {
                pys__api.Py_DecRef(v);
                pys__api.Py_DecRef(o);
                return NULL;
            }
            pys__api.Py_DecRef(v);
        }
    } else if (cJSON_IsObject(j)) {
        o = pys__api.PyDict_New();
        for (const cJSON *c = j->child; o && c; c = c->next) {
            PyObject *k = utf8(c->string ? c->string : "", "a JSON object key", fn);
            PyObject *v = k ? from_json(rt, c, depth + 1, fn) : NULL;
            int rc = v ? pys__api.PyDict_SetItem(o, k, v) : -1;
            pys__api.Py_DecRef(k);
            pys__api.Py_DecRef(v);
            if (rc < 0) {
                pys__api.Py_DecRef(o);
                return NULL;
            }
        }
    } else {
        pys__fail(fn, PYS_E_VALUE, "%s: unsupported cJSON node (type %d)", fn, j->type);
        return NULL;
    }
    return o;
}

pys_obj pys_from_json(pys_runtime *rt, const struct cJSON *json)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    if (!json) {
        pys__fail(__func__, PYS_E_ARG, "pys_from_json: json is NULL");
    } else {
        PyObject *o = from_json(rt, json, 0, __func__);
        if (o)
            out = pys__h_new(rt, o, __func__);
        else if (pys__api.PyErr_Occurred())
            pys__fail_py(rt, __func__);
    }
    pys__end(rt);
    return out;
}

/* The offset of the first \u0000 escape in a JSON string of text (valid
 * JSON), or -1. cJSON decodes it into a NUL that ends its C string, which
 * would silently cut the string short. */
static long nul_escape_at(const char *text)
{
    bool in_str = false;
    for (const char *p = text; *p; p++) {
        if (*p == '"') {
            in_str = !in_str;
        } else if (in_str && *p == '\\') {
            if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0)
                return (long)(p - text);
            if (p[1])
                p++; /* the escaped character cannot end the string */
        }
    }
    return -1;
}

pys_obj pys_from_json_text(pys_runtime *rt, const char *text)
{
    if (!text) {
        pys__fail(__func__, PYS_E_ARG, "pys_from_json_text: text is NULL");
        return PYS_NULL;
    }
    /* The whole text is one value (whitespace around it allowed). The
     * error position is this call's own: cJSON_GetErrorPtr is one
     * process-wide pointer that any thread's parse overwrites. */
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, strlen(text) + 1, &end, true);
    if (!j) {
        pys__fail(__func__, PYS_E_VALUE, "pys_from_json_text: invalid JSON at offset %td",
                  end && end >= text ? end - text : (ptrdiff_t)0);
        return PYS_NULL;
    }
    long nul = nul_escape_at(text);
    if (nul >= 0) {
        cJSON_Delete(j);
        pys__fail(__func__, PYS_E_VALUE,
                  "pys_from_json_text: \\u0000 in a string at offset %ld (a C string cannot "
                  "carry it)",
                  nul);
        return PYS_NULL;
    }
    pys_obj o = pys_from_json(rt, j);
    cJSON_Delete(j);
    return o;
}

/* ---- Python -> JSON -------------------------------------------------------------- */

typedef struct walk {
    pys_runtime *rt;
    const char *fn;
    PyObject *stack[PYS_JSON_MAX_DEPTH + 1];
    int depth;
    /* the path to the current value, as segments */
    char seg[PYS_JSON_MAX_DEPTH + 1][48];
} walk;

static char *path_of(const walk *w)
{
    pys__sb b = {0};
    pys__sb_add(&b, "$");
    for (int i = 0; i < w->depth; i++)
        pys__sb_add(&b, w->seg[i]);
    return pys__sb_take(&b);
}

static cJSON *fail_at(walk *w, int code, const char *what, PyObject *o)
{
    char *p = path_of(w);
    char tn[128] = "";
    if (o)
        pys__type_name(o, tn, sizeof tn);
    pys__fail(w->fn, code, "%s: %s%s%s at %s", w->fn, what, o ? ": " : "", o ? tn : "",
              p ? p : "$");
    free(p);
    return NULL;
}

static cJSON *to_json(walk *w, PyObject *o);

static cJSON *push(walk *w, PyObject *container)
{
    if (w->depth >= PYS_JSON_MAX_DEPTH)
        return fail_at(w, PYS_E_VALUE, "nested deeper than PYS_JSON_MAX_DEPTH", NULL);
    for (int i = 0; i < w->depth; i++)
        if (w->stack[i] == container)
            return fail_at(w, PYS_E_VALUE, "cycle: a container contains itself", NULL);
    w->stack[w->depth] = container;
    return (cJSON *)1;
}

static cJSON *child(walk *w, PyObject *v, const char *segfmt, const char *key, long index)
{
    if (key)
        snprintf(w->seg[w->depth], sizeof w->seg[0], segfmt, key);
    else
        snprintf(w->seg[w->depth], sizeof w->seg[0], segfmt, index);
    w->depth++;
    cJSON *c = to_json(w, v);
    w->depth--;
    return c;
}

static cJSON *seq_to_json(walk *w, PyObject *o)
{
    if (!push(w, o))
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    PyObject *it = pys__api.PyObject_GetIter(o);
    if (!arr || !it) {
        cJSON_Delete(arr);
        pys__api.Py_DecRef(it);
        pys__fail_py(w->rt, w->fn);
        return NULL;
    }
    PyObject *v;
    long i = 0;
    while ((v = pys__api.PyIter_Next(it))) {
        cJSON *c = child(w, v, "[%ld]", NULL, i++);
        pys__api.Py_DecRef(v);
        if (!c) {
            cJSON_Delete(arr);
            pys__api.Py_DecRef(it);
            return NULL;
        }
        cJSON_AddItemToArray(arr, c);
    }
    pys__api.Py_DecRef(it);
    if (pys__api.PyErr_Occurred()) {
        cJSON_Delete(arr);
        pys__fail_py(w->rt, w->fn);
        return NULL;
    }
    return arr;
}

static cJSON *dict_to_json(walk *w, PyObject *o)
{
    if (!push(w, o))
        return NULL;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return fail_at(w, PYS_E_NOMEM, "out of memory", NULL);
    /* PyDict_Next lends k and v; converting v can run Python code (a
     * subclass's __iter__, ...) that changes the dict and drops them, so
     * both are held for the step, and a change of size ends the walk with
     * an error, as iterating a dict in Python does. */
    Py_ssize_t pos = 0, size = pys__api.PyDict_Size(o);
    PyObject *k, *v;
    while (pys__api.PyDict_Next(o, &pos, &k, &v)) {
        if (!(pys__tp_flags(k) & PYS__Py_TPFLAGS_UNICODE_SUBCLASS)) {
            cJSON_Delete(obj);
            return fail_at(w, PYS_E_TYPE, "dict key is not a str", k);
        }
        Py_ssize_t n = 0;
        const char *ks = pys__api.PyUnicode_AsUTF8AndSize(k, &n);
        if (!ks || strlen(ks) != (size_t)n) {
            pys__api.PyErr_Clear();
            cJSON_Delete(obj);
            return fail_at(w, PYS_E_VALUE, "dict key is not representable (NUL or surrogate)",
                           NULL);
        }
        pys__api.Py_IncRef(k); /* keeps ks valid */
        pys__api.Py_IncRef(v);
        cJSON *c = child(w, v, ".%s", ks, 0);
        pys__api.Py_DecRef(v);
        if (c && pys__api.PyDict_Size(o) != size) {
            cJSON_Delete(c);
            c = fail_at(w, PYS_E_STATE, "the dict changed size during the conversion", NULL);
        }
        if (c)
            cJSON_AddItemToObject(obj, ks, c);
        pys__api.Py_DecRef(k);
        if (!c) {
            cJSON_Delete(obj);
            return NULL;
        }
    }
    return obj;
}

static cJSON *to_json(walk *w, PyObject *o)
{
    if (o == PYS__None)
        return cJSON_CreateNull();
    if (o == PYS__True)
        return cJSON_CreateTrue();
    if (o == PYS__False)
        return cJSON_CreateFalse();
    unsigned long fl = pys__tp_flags(o);
    if (fl & PYS__Py_TPFLAGS_LONG_SUBCLASS) {
        int overflow = 0;
        long long v = pys__api.PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || v > (1LL << 53) || v < -(1LL << 53))
            return fail_at(w, PYS_E_OVERFLOW, "int beyond 2^53 cannot be a JSON number exactly",
                           NULL);
        if (v == -1 && pys__api.PyErr_Occurred()) {
            pys__fail_py(w->rt, w->fn);
            return NULL;
        }
        return cJSON_CreateNumber((double)v);
    }
    if (pys__is(o, pys__api.PyFloat_Type)) {
        double v = pys__api.PyFloat_AsDouble(o);
        if (v == -1.0 && pys__api.PyErr_Occurred()) {
            pys__fail_py(w->rt, w->fn);
            return NULL;
        }
        if (!isfinite(v))
            return fail_at(w, PYS_E_VALUE, "NaN or infinity has no JSON form", NULL);
        return cJSON_CreateNumber(v);
    }
    if (fl & PYS__Py_TPFLAGS_UNICODE_SUBCLASS) {
        Py_ssize_t n = 0;
        const char *s = pys__api.PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) {
            pys__api.PyErr_Clear();
            return fail_at(w, PYS_E_VALUE, "str is not encodable as UTF-8", NULL);
        }
        if (strlen(s) != (size_t)n)
            return fail_at(w, PYS_E_VALUE, "str with an embedded NUL cannot be a cJSON string",
                           NULL);
        return cJSON_CreateString(s);
    }
    if (fl & PYS__Py_TPFLAGS_DICT_SUBCLASS)
        return dict_to_json(w, o);
    if ((fl & (PYS__Py_TPFLAGS_LIST_SUBCLASS | PYS__Py_TPFLAGS_TUPLE_SUBCLASS)) ||
        pys__is(o, pys__api.PySet_Type) || pys__is(o, pys__api.PyFrozenSet_Type))
        return seq_to_json(w, o);
    return fail_at(w, PYS_E_TYPE, "value has no JSON form", o);
}

struct cJSON *pys_to_json(pys_obj h)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return NULL;
    cJSON *out = NULL;
    PyObject *o = pys__h_ref(rt, h, __func__); /* the conversion can run Python code */
    if (o) {
        walk *w = calloc(1, sizeof *w);
        if (!w) {
            pys__fail(__func__, PYS_E_NOMEM, "pys_to_json: out of memory");
        } else {
            w->rt = rt;
            w->fn = __func__;
            out = to_json(w, o);
            free(w);
        }
        pys__api.Py_DecRef(o);
    }
    if (pys__api.PyErr_Occurred()) {
        /* Never a tree built past an exception: a value that failed
         * without saying so fails the call. */
        if (out) {
            cJSON_Delete(out);
            out = NULL;
            pys__fail_py(rt, __func__);
        } else {
            pys__api.PyErr_Clear(); /* the error set names the cause */
        }
    }
    pys__end(rt);
    return out;
}

/* Compact JSON text of a tree. cJSON's own printer rounds large integral
 * numbers to 15 significant digits (9007199254740992 prints as
 * 9.00719925474099e+15), which would read back as a different value, so
 * numbers are printed exactly here: integral values as integers, others
 * with the fewest digits (15-17) that read back exactly. */
static void print_string(pys__sb *b, const char *s)
{
    pys__sb_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': pys__sb_add(b, "\\\""); break;
        case '\\': pys__sb_add(b, "\\\\"); break;
        case '\n': pys__sb_add(b, "\\n"); break;
        case '\r': pys__sb_add(b, "\\r"); break;
        case '\t': pys__sb_add(b, "\\t"); break;
        case '\b': pys__sb_add(b, "\\b"); break;
        case '\f': pys__sb_add(b, "\\f"); break;
        default:
            if (*p < 0x20)
                pys__sb_addf(b, "\\u%04x", *p);
            else
                pys__sb_addn(b, (const char *)p, 1);
        }
    }
    pys__sb_add(b, "\"");
}

static void print_json(pys__sb *b, const cJSON *j)
{
    if (cJSON_IsNull(j)) {
        pys__sb_add(b, "null");
    } else if (cJSON_IsTrue(j)) {
        pys__sb_add(b, "true");
    } else if (cJSON_IsFalse(j)) {
        pys__sb_add(b, "false");
    } else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (floor(v) == v && fabs(v) <= EXACT_INT_LIMIT)
            pys__sb_addf(b, "%.0f", v);
        else {
            /* the shortest of 15..17 digits that reads back exactly */
            char num[40];
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(num, sizeof num, "%.*g", prec, v);
                if (strtod(num, NULL) == v)
                    break;
            }
            pys__sb_add(b, num);
        }
    } else if (cJSON_IsString(j)) {
        print_string(b, j->valuestring ? j->valuestring : "");
    } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        bool obj = cJSON_IsObject(j);
        pys__sb_add(b, obj ? "{" : "[");
        for (const cJSON *c = j->child; c; c = c->next) {
            if (c != j->child)
                pys__sb_add(b, ",");
            if (obj) {
                print_string(b, c->string ? c->string : "");
                pys__sb_add(b, ":");
            }
            print_json(b, c);
        }
        pys__sb_add(b, obj ? "}" : "]");
    } else if (cJSON_IsRaw(j) && j->valuestring) {
        pys__sb_add(b, j->valuestring);
    } else {
        pys__sb_add(b, "null");
    }
}

char *pys_to_json_text(pys_obj o)
{
    cJSON *j = pys_to_json(o);
    if (!j)
        return NULL;
    pys__sb b = {0};
    print_json(&b, j);
    cJSON_Delete(j);
    char *s = pys__sb_take(&b);
    if (!s)
        pys__fail(__func__, PYS_E_NOMEM, "pys_to_json_text: out of memory");
    return s;
}
