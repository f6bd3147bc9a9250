/* pys_get_options: the resolved copy of the options an open runtime was
 * opened with (defaults filled in, strings owned by the runtime). */
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

static void quiet_log(pys_log_level level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static int hello(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                 pys_obj *result)
{
    (void)args;
    (void)nargs;
    (void)kwargs;
    (void)ud;
    *result = pys_from_int64(rt, 7);
    return pys_ok(*result) ? PYS_OK : pys_last_error()->code;
}

/* Zeroed options (only the library and ignore_environment, as every test
 * opens): each default is visible. */
PYS_TEST(options, defaults_after_zeroed_open)
{
    pys_options o;
    memset(&o, 0x5a, sizeof o); /* every field is written */
    pyt_assert_ok(pys_get_options(rt, &o));
    cr_assert_str_eq(o.bridge_module, "c_bridge");
    cr_assert_not_null(o.argv);
    cr_assert_str_eq(o.argv[0], "");
    cr_assert_null(o.argv[1]);
    cr_assert_str_eq(o.library_path, py->path);
    cr_assert(o.ignore_environment);
    cr_assert_null(o.python);
    cr_assert_null(o.venv);
    cr_assert_null(o.uv_project);
    cr_assert_null(o.dependencies);
    cr_assert_null(o.find_links);
    cr_assert_null(o.bridge_funcs);
    cr_assert_eq(o.nbridge_funcs, 0);
    cr_assert_null(o.logger);
    cr_assert_null(o.logger_userdata);
    cr_assert(!o.skip_finalize);
    cr_assert(!o.refuse_untested);
    cr_assert(!o.memory_caps);
    cr_assert_eq(o.utf8_mode, 0);
    cr_assert_eq(o.coerce_c_locale, 0);
    /* What the defaults say is what the runtime does. */
    cr_assert_eq(pyt_eval_i64(rt, "len(__import__('sys').argv)"), 1);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('sys').argv[0] == ''"), 1);
}

/* The environment's refuse_untested is resolved into the copy, unless
 * ignore_environment. */
PYS_TEST_NOOPEN(options, environment_flag_resolved)
{
    setenv("PYSHIM_REFUSE_UNTESTED", "1", 1);
    pys_options in = {.library_path = py->path};
    pys_runtime *rt = NULL;
    pyt_assert_ok(pys_open(&in, &rt));
    pys_options o;
    pyt_assert_ok(pys_get_options(rt, &o));
    cr_assert(o.refuse_untested);
    cr_assert(!o.ignore_environment);
    pyt_close(rt);
    in.ignore_environment = true;
    pyt_assert_ok(pys_open(&in, &rt));
    pyt_assert_ok(pys_get_options(rt, &o));
    cr_assert(!o.refuse_untested);
    pyt_close(rt);
    unsetenv("PYSHIM_REFUSE_UNTESTED");
}

/* Explicit values are kept, as copies: the caller's memory may change or
 * go once pys_open returned. */
PYS_TEST_NOOPEN(options, explicit_values_kept_as_copies)
{
    char module[] = "my_bridge";
    char name[] = "hello";
    char doc[] = "says 7";
    char arg0[] = "prog", arg1[] = "x";
    const char *argv[] = {arg0, arg1, NULL};
    char link[] = "/nonexistent/wheels";
    const char *links[] = {link, NULL};
    char index[] = "https://example.invalid/simple";
    pys_bridge_func funcs[] = {{.name = name, .fn = hello, .doc = doc}};
    int ud = 0;
    pys_options in = {
        .bridge_module = module,
        .bridge_funcs = funcs,
        .nbridge_funcs = 1,
        .argv = argv,
        .find_links = links,
        .index_url = index,
        .no_index = true,
        .utf8_mode = 1,
        .logger = quiet_log,
        .logger_userdata = &ud,
        .refuse_untested = true,
    };
    pys_runtime *rt = pyt_open_opts(py, &in);
    /* The caller's strings change (or are freed) after the open. */
    memset(module, 'z', sizeof module - 1);
    memset(name, 'z', sizeof name - 1);
    memset(doc, 'z', sizeof doc - 1);
    memset(arg0, 'z', sizeof arg0 - 1);
    memset(link, 'z', sizeof link - 1);
    memset(index, 'z', sizeof index - 1);
    argv[1] = NULL;
    funcs[0].name = NULL;

    pys_options o;
    pyt_assert_ok(pys_get_options(rt, &o));
    cr_assert_str_eq(o.bridge_module, "my_bridge");
    cr_assert_str_eq(o.argv[0], "prog");
    cr_assert_str_eq(o.argv[1], "x");
    cr_assert_null(o.argv[2]);
    cr_assert_str_eq(o.find_links[0], "/nonexistent/wheels");
    cr_assert_null(o.find_links[1]);
    cr_assert_str_eq(o.index_url, "https://example.invalid/simple");
    cr_assert(o.no_index);
    cr_assert_eq(o.utf8_mode, 1);
    cr_assert(o.refuse_untested);
    cr_assert_eq(o.logger, quiet_log);
    cr_assert_eq(o.logger_userdata, &ud);
    cr_assert_eq(o.nbridge_funcs, 1);
    cr_assert_not_null(o.bridge_funcs);
    cr_assert_neq(o.bridge_funcs, funcs);
    cr_assert_str_eq(o.bridge_funcs[0].name, "hello");
    cr_assert_str_eq(o.bridge_funcs[0].doc, "says 7");
    cr_assert_eq(o.bridge_funcs[0].fn, hello);
    cr_assert_null(o.bridge_funcs[0].signature);
    /* And the runtime used them. */
    cr_assert_eq(pyt_eval_i64(rt, "__import__('my_bridge').hello()"), 7);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('sys').argv == ['prog', 'x']"), 1);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('sys').flags.utf8_mode"), 1);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(options, closed_runtime_is_refused)
{
    pys_runtime *rt = pyt_open(py);
    pys_options o;
    pyt_assert_ok(pys_get_options(rt, &o));
    pyt_close(rt);
    cr_assert_eq(pys_get_options(rt, &o), PYS_E_CLOSED);
    cr_assert_str_eq(pys_last_error()->context, "pys_get_options");
    cr_assert(strstr(pys_last_error()->message, "not open"), "%s", pys_last_error()->message);
    /* Opened again: the new open's options, not the old ones. */
    pys_options in = {.bridge_module = "again"};
    rt = pyt_open_opts(py, &in);
    pyt_assert_ok(pys_get_options(rt, &o));
    cr_assert_str_eq(o.bridge_module, "again");
    pyt_close(rt);
}

PYS_TEST(options, bad_arguments)
{
    (void)py;
    cr_assert_eq(pys_get_options(rt, NULL), PYS_E_ARG);
    cr_assert_str_eq(pys_last_error()->context, "pys_get_options");
    cr_assert(strstr(pys_last_error()->message, "out is NULL"), "%s", pys_last_error()->message);
    pys_options o;
    cr_assert_eq(pys_get_options(NULL, &o), PYS_E_ARG);
    int not_a_runtime = 0;
    cr_assert_eq(pys_get_options((pys_runtime *)&not_a_runtime, &o), PYS_E_ARG);
}
