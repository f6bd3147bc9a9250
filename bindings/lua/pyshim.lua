-- pyshim for LuaJIT: run the installed CPython in-process.
--
-- A thin module over the FFI face of libpyshim: include/pyshim_ffi.h is
-- read as it is (its '#' lines and extern "C" block dropped) by ffi.cdef.
--
--   local pyshim = require("pyshim")
--   local py = pyshim.open{ library_path = "...", argv = {"app"} }
--   py:exec("import math")
--   print(py:eval("math.gcd"):call(84, 36):value())   --> 12
--   py:register("greet", function(name) return "hi " .. name end)
--   py:close()
--
-- Values: nil <-> None, booleans, numbers (an integral number below 2^53
-- becomes an int, others a float; ints come back as numbers, or int64_t
-- cdata beyond 2^53), strings (UTF-8 text, NULs kept; pyshim.bytes(s) for
-- bytes), tables (a sequence becomes a list, other tables a dict; lists,
-- tuples and dicts come back as tables), and Objects (handles to any
-- Python object, released when collected or with :close()).
--
-- Errors raise a pyshim.Error table: code, name, type, message, traceback.
--
-- Callbacks: Lua functions registered with py:register run on the Lua
-- thread only. A Python thread that calls one waits (without the GIL)
-- until Lua runs py:pump(ms) or py:join(thread), so a Lua state is never
-- entered from two threads. A Lua error in a callback becomes a Python
-- exception (RuntimeError with the message, or the original Python
-- exception when a pyshim call failed), never a success.
local ffi = require("ffi")
local bit = require("bit")

local M = {}

local function script_dir()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local function read_header()
  local path = os.getenv("PYSHIM_FFI_HEADER") or (script_dir() .. "../../include/pyshim_ffi.h")
  local f = assert(io.open(path, "rb"), "pyshim: cannot read " .. path)
  local s = f:read("*a")
  f:close()
  s = s:gsub("#ifdef __cplusplus.-#endif", "")
  s = ("\n" .. s):gsub("\n#[^\n]*", "\n")
  return s
end

ffi.cdef(read_header())
ffi.cdef("typedef struct pys_lua_obj { uint64_t id; bool owned; } pys_lua_obj;")
local C = ffi.load(os.getenv("PYSHIM_LIB") or "pyshim")
M.C = C

local OK = C.PYS_FFI_OK

-- ---- errors -------------------------------------------------------------------

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  local s = e.name .. ": " .. e.message
  if e.type ~= "" then s = e.type .. ": " .. e.message end
  return s
end
M.Error = Error

local sbuf_len = 4096
local sbuf = ffi.new("char[?]", sbuf_len)

-- Reads a string through f(buf, cap) -> length, growing the buffer.
local function read_into(f, ...)
  local n = f(select(1, ...), sbuf, sbuf_len)
  if n < 0 then return nil, n end
  n = tonumber(n)
  if n <= sbuf_len then return ffi.string(sbuf, n) end
  local big = ffi.new("char[?]", n + 1)
  n = tonumber(f(select(1, ...), big, n + 1))
  return ffi.string(big, n)
end

local function field(f)
  local n = tonumber(f(sbuf, sbuf_len))
  if n <= sbuf_len then return ffi.string(sbuf, n) end
  local big = ffi.new("char[?]", n + 1)
  return ffi.string(big, tonumber(f(big, n + 1)))
end

local function last_error()
  local code = C.pys_ffi_error_code()
  return setmetatable({
    code = code,
    name = ffi.string(C.pys_ffi_err_name(code)),
    context = field(C.pys_ffi_error_context),
    type = field(C.pys_ffi_error_type),
    message = field(C.pys_ffi_error_message),
    traceback = field(C.pys_ffi_error_traceback),
  }, Error)
end
M.last_error = last_error

local function raise()
  error(last_error(), 3)
end

-- ---- objects --------------------------------------------------------------------

local Object = {}
local Obj -- the ctype

local function wrap(id)
  if id == 0 then raise() end
  return ffi.gc(Obj(id, true), Object.close)
end

local function borrowed(id)
  return Obj(id, false)
end

local Runtime = {}
Runtime.__index = Runtime
local current -- the open runtime (one per process)

local bytes_mt = {}
function M.bytes(s) return setmetatable({ s = s }, bytes_mt) end

local TWO53 = 2 ^ 53

-- A new handle for a Lua value (the caller releases it).
local function to_handle(rt, v)
  local t = type(v)
  if t == "nil" then
    return C.pys_ffi_none(rt)
  elseif t == "boolean" then
    return C.pys_ffi_from_bool(rt, v and 1 or 0)
  elseif t == "number" then
    if v == math.floor(v) and v > -TWO53 and v < TWO53 then
      return C.pys_ffi_from_int64(rt, v)
    end
    return C.pys_ffi_from_double(rt, v)
  elseif t == "string" then
    return C.pys_ffi_from_strn(rt, v, #v)
  elseif t == "cdata" then
    if ffi.istype(Obj, v) then return C.pys_ffi_dup(v.id) end
    if ffi.istype("uint64_t", v) then return C.pys_ffi_from_uint64(rt, v) end
    if ffi.istype("int64_t", v) then return C.pys_ffi_from_int64(rt, v) end
    return C.pys_ffi_from_double(rt, tonumber(v))
  elseif t == "table" then
    if getmetatable(v) == bytes_mt then
      return C.pys_ffi_from_bytes(rt, v.s, #v.s)
    end
    local n = #v
    if n > 0 or next(v) == nil then
      local items = ffi.new("uint64_t[?]", n)
      for i = 1, n do
        items[i - 1] = to_handle(rt, v[i])
        if items[i - 1] == 0 then
          for j = 0, i - 2 do C.pys_ffi_release(items[j]) end
          return 0
        end
      end
      local l = C.pys_ffi_list_new(rt, items, n)
      for i = 0, n - 1 do C.pys_ffi_release(items[i]) end
      return l
    end
    local d = C.pys_ffi_dict_new(rt)
    for k, x in pairs(v) do
      local kh, xh = to_handle(rt, k), to_handle(rt, x)
      if kh == 0 or xh == 0 or C.pys_ffi_setitem(d, kh, xh) ~= OK then
        if kh ~= 0 then C.pys_ffi_release(kh) end
        if xh ~= 0 then C.pys_ffi_release(xh) end
        C.pys_ffi_release(d)
        return 0
      end
      C.pys_ffi_release(kh)
      C.pys_ffi_release(xh)
    end
    return d
  end
  error("pyshim: cannot convert a " .. t .. " to Python", 3)
end

local tname = ffi.new("char[128]")

-- The Lua value of a handle (Objects for what has no Lua counterpart).
local function to_lua(id)
  if C.pys_ffi_type_name(id, tname, 128) ~= OK then raise() end
  local t = ffi.string(tname)
  if t == "int" then
    local v = C.pys_ffi_int64(id)
    if C.pys_ffi_status() ~= OK then
      local u = C.pys_ffi_uint64(id)
      if C.pys_ffi_status() ~= OK then raise() end
      return u
    end
    if v > -TWO53 and v < TWO53 then return tonumber(v) end
    return v
  elseif t == "float" then
    return C.pys_ffi_double(id)
  elseif t == "bool" then
    return C.pys_ffi_bool(id) ~= 0
  elseif t == "NoneType" then
    return nil
  elseif t == "str" then
    local s = read_into(C.pys_ffi_str_read, id)
    if not s then raise() end
    return s
  elseif t == "bytes" or t == "bytearray" then
    local s = read_into(C.pys_ffi_bytes_read, id)
    if not s then raise() end
    return s
  elseif t == "list" or t == "tuple" then
    local n = tonumber(C.pys_ffi_len(id))
    local out = {}
    for i = 0, n - 1 do
      local x = C.pys_ffi_getitem_index(id, i)
      if x == 0 then raise() end
      out[i + 1] = to_lua(x)
      C.pys_ffi_release(x)
    end
    return out
  elseif t == "dict" then
    local items = C.pys_ffi_items(id)
    if items == 0 then raise() end
    local n = tonumber(C.pys_ffi_len(items))
    local out = {}
    for i = 0, n - 1 do
      local kv = C.pys_ffi_getitem_index(items, i)
      local k, x = C.pys_ffi_getitem_index(kv, 0), C.pys_ffi_getitem_index(kv, 1)
      out[to_lua(k)] = to_lua(x)
      C.pys_ffi_release(k)
      C.pys_ffi_release(x)
      C.pys_ffi_release(kv)
    end
    C.pys_ffi_release(items)
    return out
  end
  return wrap(C.pys_ffi_dup(id))
end

function Object.close(o)
  if o.owned and o.id ~= 0 then
    C.pys_ffi_release(o.id)
    o.id = 0
  end
end

function Object.value(o) return to_lua(o.id) end

function Object.attr(o, name) return wrap(C.pys_ffi_getattr(o.id, name)) end

function Object.setattr(o, name, v)
  local h = to_handle(current.rt, v)
  if h == 0 then raise() end
  local rc = C.pys_ffi_setattr(o.id, name, h)
  C.pys_ffi_release(h)
  if rc ~= OK then raise() end
end

-- Handles for a list of Lua values, in a uint64_t array.
local function handles(rt, n, ...)
  local arr = ffi.new("uint64_t[?]", n)
  for i = 1, n do
    local h = to_handle(rt, (select(i, ...)))
    if h == 0 then
      for j = 0, i - 2 do C.pys_ffi_release(arr[j]) end
      raise()
    end
    arr[i - 1] = h
  end
  return arr
end

local function release_all(arr, n)
  for i = 0, n - 1 do C.pys_ffi_release(arr[i]) end
end

function Object.call(o, ...)
  local n = select("#", ...)
  local arr = handles(current.rt, n, ...)
  local r = C.pys_ffi_call(o.id, arr, n)
  release_all(arr, n)
  return wrap(r)
end

-- o(args...) with keyword arguments from a table.
function Object.callkw(o, args, kw)
  args = args or {}
  local n = #args
  local arr = handles(current.rt, n, unpack(args, 1, n))
  local kh = kw and to_handle(current.rt, kw) or 0
  local r = C.pys_ffi_call_kw(o.id, arr, n, kh)
  release_all(arr, n)
  if kh ~= 0 then C.pys_ffi_release(kh) end
  return wrap(r)
end

-- o(values) with a pyshim format: numbers (or booleans) for the integer
-- codes and d, strings for s y, Objects for O N. Which array each letter's
-- value goes to is the library's own table (pys_ffi_format_codes), so a
-- value code added to libpyshim needs no change here. No handle is made per
-- argument.
local fints = ffi.new("int64_t[64]")
local fdbls = ffi.new("double[64]")
local fstrs = ffi.new("const char *[64]")
local flens = ffi.new("size_t[64]")
local fobjs = ffi.new("uint64_t[64]")
local code_array, code_class = {}, ""
for _, a in ipairs({ C.PYS_FFI_ARRAY_INTS, C.PYS_FFI_ARRAY_DBLS, C.PYS_FFI_ARRAY_STRS,
                     C.PYS_FFI_ARRAY_OBJS }) do
  local letters = ffi.string(C.pys_ffi_format_codes(a))
  for c in letters:gmatch(".") do code_array[c] = a end
  code_class = code_class .. letters
end
local code_pattern = "[" .. code_class .. "]#?"
-- Values missing for the format are left out (pyshim then refuses the
-- call with PYS_E_ARG); more values than the format uses is an error.
local function fill(fmt, ...)
  local ni, nd, ns, no, k = 0, 0, 0, 0, 1
  local nv = select("#", ...)
  local body = fmt:gsub("[%a_][%w_]*=", "")
  for code in body:gmatch(code_pattern) do
    if k > nv then break end
    local v = select(k, ...)
    k = k + 1
    local a = code_array[code:sub(1, 1)]
    if a == C.PYS_FFI_ARRAY_DBLS then fdbls[nd] = v; nd = nd + 1
    elseif a == C.PYS_FFI_ARRAY_STRS then fstrs[ns] = v; flens[ns] = v and #v or 0; ns = ns + 1
    elseif a == C.PYS_FFI_ARRAY_OBJS then fobjs[no] = v.id; no = no + 1
    elseif type(v) == "boolean" then fints[ni] = v and 1 or 0; ni = ni + 1
    else fints[ni] = v; ni = ni + 1 end
  end
  if k <= nv then error("pyshim: more values than the format '" .. fmt .. "' uses", 3) end
  return ni, nd, ns, no
end

function Object.callf(o, fmt, ...)
  local ni, nd, ns, no = fill(fmt, ...)
  return wrap(C.pys_ffi_callv(o.id, fmt, fints, ni, fdbls, nd, fstrs, flens, ns, fobjs, no))
end

function Object.method(o, name, ...)
  local m = o:attr(name)
  local r = m:call(...)
  m:close()
  return r
end

function Object.len(o)
  local n = C.pys_ffi_len(o.id)
  if C.pys_ffi_status() ~= OK then raise() end
  return tonumber(n)
end

function Object.item(o, k)
  local kh = to_handle(current.rt, k)
  local r = C.pys_ffi_getitem(o.id, kh)
  C.pys_ffi_release(kh)
  return wrap(r)
end

function Object.repr(o)
  local r = wrap(C.pys_ffi_repr(o.id))
  local s = r:value()
  r:close()
  return s
end

Object.__index = Object
Object.__tostring = function(o)
  local s = wrap(C.pys_ffi_str(o.id))
  local v = s:value()
  s:close()
  return v
end
Object.__len = Object.len
Obj = ffi.metatype("pys_lua_obj", Object)
M.Object = Object

-- ---- callbacks -------------------------------------------------------------------

local callbacks = {} -- ctx -> { fn, raw }
local next_ctx = 1

local trampoline = ffi.cast("pys_ffi_fn", function(ctx, args, nargs, kwargs)
  local cb = callbacks[tonumber(ctx)]
  local vals = {}
  local n = tonumber(nargs)
  local ok, res = pcall(function()
    for i = 1, n do
      vals[i] = cb.raw and borrowed(args[i - 1]) or to_lua(args[i - 1])
    end
    if kwargs ~= 0 then vals[n + 1] = cb.raw and borrowed(kwargs) or to_lua(kwargs) end
    return to_handle(current.rt, cb.fn(unpack(vals, 1, n + (kwargs ~= 0 and 1 or 0))))
  end)
  if ok then return res end
  if getmetatable(res) == Error then
    return 0 -- a pyshim call failed: Python gets its exception
  end
  C.pys_ffi_fail("RuntimeError", tostring(res))
  return 0
end)

local release_cb = ffi.cast("pys_ffi_release_fn", function(ctx)
  callbacks[tonumber(ctx)] = nil
end)

-- ---- the runtime ---------------------------------------------------------------------

local list_keys = { dependencies = true, find_links = true, argv = true }

function M.open(opts)
  opts = opts or {}
  local keys, vals = {}, {}
  for k, v in pairs(opts) do
    if list_keys[k] then
      for _, x in ipairs(v) do keys[#keys + 1] = k; vals[#vals + 1] = tostring(x) end
    else
      keys[#keys + 1] = k
      vals[#vals + 1] = type(v) == "boolean" and (v and "1" or "0") or tostring(v)
    end
  end
  local n = #keys
  local ck = ffi.new("const char *[?]", n + 1)
  local cv = ffi.new("const char *[?]", n + 1)
  for i = 1, n do ck[i - 1] = keys[i]; cv[i - 1] = vals[i] end
  local rt = C.pys_ffi_open(ck, cv, n)
  if rt == nil then error(last_error(), 2) end
  current = setmetatable({ rt = rt }, Runtime)
  return current
end

function Runtime:close()
  local rc = C.pys_ffi_close(self.rt)
  if rc ~= OK then raise() end
end

function Runtime:exec(src)
  if C.pys_ffi_exec(self.rt, src) ~= OK then raise() end
end

function Runtime:eval(expr) return wrap(C.pys_ffi_eval(self.rt, expr)) end
function Runtime:import(name) return wrap(C.pys_ffi_import(self.rt, name)) end
function Runtime:value(v)
  local h = to_handle(self.rt, v)
  return wrap(h)
end
function Runtime:handle_count() return tonumber(C.pys_ffi_handle_count(self.rt)) end

-- Registers fn as c_bridge.<name>. opts.raw: fn gets borrowed Objects
-- instead of Lua values; opts.release_gil: the GIL is let go while fn runs.
function Runtime:register(name, fn, opts)
  opts = opts or {}
  local ctx = next_ctx
  next_ctx = next_ctx + 1
  callbacks[ctx] = { fn = fn, raw = opts.raw }
  local flags = C.PYS_FFI_OWNER_THREAD
  if opts.release_gil then flags = bit.bor(flags, C.PYS_FFI_RELEASE_GIL) end
  local rc = C.pys_ffi_register(self.rt, name, trampoline, ctx, flags, release_cb)
  if rc ~= OK then
    callbacks[ctx] = nil
    raise()
  end
end

-- Runs callbacks Python threads are waiting for; returns how many ran.
function Runtime:pump(timeout_ms)
  local n = C.pys_bridge_pump(self.rt, timeout_ms or 0)
  if n < 0 then raise() end
  return n
end

-- Joins a threading.Thread, running its callbacks meanwhile.
function Runtime:join(thread, timeout_s)
  local deadline = timeout_s and (os.clock() + timeout_s)
  while thread:method("is_alive"):value() do
    self:pump(20)
    if deadline and os.clock() > deadline then return false end
  end
  thread:method("join"):close()
  return true
end

-- Runs fn inside one GIL batch (pys_gil_acquire / release).
function Runtime:with_gil(fn, ...)
  if C.pys_ffi_gil_acquire(self.rt) ~= OK then raise() end
  local r = { pcall(fn, ...) }
  C.pys_ffi_gil_release(self.rt)
  if not r[1] then error(r[2], 2) end
  return unpack(r, 2)
end

-- Calls that may run Lua callbacks must not be JIT-compiled (LuaJIT
-- refuses callbacks from a C call made by a compiled trace).
for _, f in ipairs({ Runtime.exec, Runtime.eval, Runtime.import, Runtime.pump, Runtime.join,
  Object.call, Object.callkw, Object.callf, Object.method, Object.attr, Object.setattr,
  Object.item, Object.close, to_lua, to_handle, Object.repr }) do
  jit.off(f, true)
end

return M
