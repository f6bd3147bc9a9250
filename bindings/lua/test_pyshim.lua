-- Tests of the LuaJIT binding, on the Python PYSHIM_TEST_LIBPYTHON names.
--   PYSHIM_LIB=build/libpyshim.so PYSHIM_TEST_LIBPYTHON=... luajit test_pyshim.lua
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local pyshim = require("pyshim")
local ffi = require("ffi")

local failures, ran = 0, 0
local function test(name, fn)
  ran = ran + 1
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    print("ok " .. ran .. " - " .. name)
  else
    failures = failures + 1
    print("not ok " .. ran .. " - " .. name)
    print("# " .. tostring(err):gsub("\n", "\n# "))
  end
end
local function eq(a, b, what)
  if a ~= b then error((what or "value") .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2) end
end

local lib = assert(os.getenv("PYSHIM_TEST_LIBPYTHON"), "PYSHIM_TEST_LIBPYTHON not set")
local py = pyshim.open { library_path = lib, argv = { "lua-test" } }

test("header version", function()
  eq(pyshim.C.pys_ffi_abi_version(), pyshim.C.PYS_FFI_ABI_VERSION)
end)

test("exec, eval, import, call", function()
  py:exec("import math")
  eq(py:eval("math.gcd"):call(84, 36):value(), 12)
  eq(py:import("math"):attr("gcd"):callf("q q", 84, 36):value(), 12)
  eq(py:eval("lambda a, b: a + b"):callf("I b", 4294967295, true):value(), 4294967296)
  eq(py:eval("1 + 2"):value(), 3)
  eq(py:eval("__import__('sys').argv[0]"):value(), "lua-test")
end)

test("round trips: int, float, str with NUL and non-ASCII, bytes, bool, None", function()
  local id = py:eval("lambda x: x")
  eq(id:call(2 ^ 52):value(), 2 ^ 52)
  eq(id:call(-7):value(), -7)
  eq(id:call(0.25):value(), 0.25)
  local s = "a\0b\xc3\xa9\xe2\x82\xac"
  eq(id:call(s):value(), s)
  eq(py:eval("len"):call(s):value(), 5)
  eq(id:call(pyshim.bytes("\0\1")):value(), "\0\1")
  eq(id:call(true):value(), true)
  eq(id:call(nil):value(), nil)
  local big = py:eval("2**62"):value()
  eq(ffi.istype("int64_t", big), true)
  eq(tostring(big), "4611686018427387904LL")
end)

test("tables: lists and dicts both ways", function()
  local d = py:value({ a = 1, b = { 1.5, 2.5 } })
  eq(py:eval("lambda d: sorted(d.items())"):call(d):repr(), "[('a', 1), ('b', [1.5, 2.5])]")
  local t = py:eval("{'x': [1, 2, (3, 'y')]}"):value()
  eq(t.x[3][2], "y")
  eq(py:eval("[1, 2, 3]"):len(), 3)
end)

test("kwargs", function()
  py:exec("def kw(a, b=0, *, c=0): return a + b * 10 + c * 100")
  eq(py:eval("kw"):callkw({ 1 }, { b = 2, c = 3 }):value(), 321)
  eq(py:eval("print"):callf("s s sep=s", "a", "b", "-") ~= nil, true)
end)

test("errors carry type, message and traceback", function()
  local ok, e = pcall(function() return py:eval("1/0") end)
  eq(ok, false)
  eq(getmetatable(e), pyshim.Error)
  eq(e.type, "ZeroDivisionError")
  eq(e.name, "PYS_E_PYTHON")
  eq(e.traceback:find("ZeroDivisionError") ~= nil, true)
  local ok2, e2 = pcall(function() return py:eval("1"):callf("q q", 1) end)
  eq(ok2, false)
  eq(e2.name, "PYS_E_ARG")
end)

test("callbacks: typed values in and out", function()
  py:register("add", function(a, b, kw) return a + b + (kw and kw.plus or 0) end)
  eq(py:eval("__import__('c_bridge').add(1, 2, plus=39)"):value(), 42)
  py:register("echo", function(s) return s end)
  eq(py:eval("__import__('c_bridge').echo('x\\x00\\u00e9')"):value(), "x\0\xc3\xa9")
end)

test("a callback that throws: Python sees an exception, nothing leaks, no success", function()
  py:register("boom", function() error("lua says no") end)
  py:exec([[
import c_bridge
def run():
    try:
        c_bridge.boom()
    except RuntimeError as e:
        return str(e)
    return 'no error'
]])
  collectgarbage()
  local before = py:handle_count()
  local o = py:eval("run()")
  local msg = o:value()
  o:close()
  eq(msg:find("lua says no") ~= nil, true, "message " .. msg)
  for _ = 1, 100 do py:eval("run()"):close() end
  eq(py:handle_count(), before, "handle count")
  -- a pyshim error inside the callback re-raises Python's own exception
  py:register("nested", function() return py:eval("undefined_name") end)
  py:exec([[
def run2():
    try:
        c_bridge.nested()
    except NameError as e:
        return 'NameError'
    return 'other'
]])
  eq(py:eval("run2()"):value(), "NameError")
end)

test("a Python thread calls Lua while Lua is busy elsewhere; Lua joins it", function()
  local calls = 0
  py:register("from_thread", function(x)
    calls = calls + 1
    return x * 2
  end)
  py:exec([[
import threading, c_bridge
result = []
def work():
    result.append(c_bridge.from_thread(21))
    try:
        c_bridge.boom()
    except RuntimeError as e:
        result.append('raised')
t = threading.Thread(target=work)
t.start()
]])
  -- busy in Lua (no pyshim call): the Python thread waits without the GIL
  local x = 0
  for i = 1, 2e7 do x = x + i % 7 end
  eq(calls, 0, "nothing ran on the Python thread")
  eq(py:eval("sum(range(10))"):value(), 45, "Python still runs")
  eq(py:join(py:eval("t"), 60), true, "joined")
  eq(calls, 1)
  eq(py:eval("result"):repr(), "[42, 'raised']")
end)

test("with_gil batch", function()
  local C = pyshim.C
  local s = py:with_gil(function()
    local acc = 0
    for i = 1, 1000 do
      local h = C.pys_ffi_from_int64(py.rt, i)
      acc = acc + tonumber(C.pys_ffi_int64(h))
      C.pys_ffi_release(h)
    end
    return acc
  end)
  eq(s, 500500)
end)

collectgarbage()
py:close()
print("1.." .. ran)
if failures > 0 then os.exit(1) end
