-- The LuaJIT side of the FFI benchmarks (bench/ffi/run.sh): the ops of
-- bench_ffi.c through bindings/lua's module (raw FFI calls, JIT-compiled),
-- in one GIL batch.   luajit bench.lua OP N
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../../bindings/lua/?.lua;" .. package.path
local pyshim = require("pyshim")
local ffi = require("ffi")
local C = pyshim.C
local op, n = arg[1], tonumber(arg[2])
local py = pyshim.open { library_path = os.getenv("PYSHIM_LIBPYTHON") }
local rt = py.rt
local len = py:eval("len")
local list = py:eval("[1, 2, 3]")
local args = ffi.new("uint64_t[1]", list.id)
local lenid = len.id
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function cpu_ns()
  ffi.C.clock_gettime(3, ts) -- CLOCK_THREAD_CPUTIME_ID
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end
local function int_rt(k)
  local sink = 0
  for i = 1, k do
    local h = C.pys_ffi_from_int64(rt, i)
    sink = sink + tonumber(C.pys_ffi_int64(h))
    C.pys_ffi_release(h)
  end
  return sink
end
local function len3(k)
  local sink = 0
  for _ = 1, k do
    local r = C.pys_ffi_call(lenid, args, 1)
    sink = sink + tonumber(C.pys_ffi_int64(r))
    C.pys_ffi_release(r)
  end
  return sink
end
local fn = ({ int_lua = int_rt, len_lua = len3 })[op]
C.pys_ffi_gil_acquire(rt)
fn(10000) -- warm up the JIT (also for n = 0: callgrind differences)
local t0 = cpu_ns()
fn(n)
local t1 = cpu_ns()
C.pys_ffi_gil_release(rt)
if n > 0 then print(string.format("%s %.1f", op, (t1 - t0) / n)) end
len:close()
list:close()
py:close()
