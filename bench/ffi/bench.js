'use strict';
// The Node side of the FFI benchmarks (bench/ffi/run.sh): the ops of
// bench_ffi.c through bindings/node (koffi), in one GIL batch.
//   node bench.js OP N
const pyshim = require('../../bindings/node');
const { C } = pyshim;
const [op, nStr] = process.argv.slice(2);
const n = Number(nStr);
const py = pyshim.open({ library_path: process.env.PYSHIM_LIBPYTHON });
const rt = py.rt;
const len = py.eval('len');
const list = py.eval('[1, 2, 3]');
const listId = list.id;
function intRt(k) {
  let sink = 0;
  for (let i = 1; i <= k; i++) {
    const h = C.pys_ffi_from_int64(rt, i);
    sink += C.pys_ffi_int64(h);
    C.pys_ffi_release(h);
  }
  return sink;
}
// len() through pys_ffi_call1, as the binding's call() makes it: koffi
// copies an array argument on every call (pys_ffi_call with the typed
// array costs about 150 ns more here).
function len3(k) {
  let sink = 0;
  for (let i = 0; i < k; i++) {
    const r = C.pys_ffi_call1(len.id, listId);
    sink += C.pys_ffi_int64(r);
    C.pys_ffi_release(r);
  }
  return sink;
}
// One koffi call that does nothing: the round trip and len() make three.
function noop(k) {
  let sink = 0;
  for (let i = 0; i < k; i++) sink += C.pys_ffi_abi_version();
  return sink;
}
const fn = { int_node: intRt, len_node: len3, noop_node: noop }[op];
C.pys_ffi_gil_acquire(rt);
if (n > 0) fn(Math.min(n, 10000));
const t0 = process.cpuUsage();
fn(n);
const t1 = process.cpuUsage(t0);
C.pys_ffi_gil_release(rt);
if (n > 0) console.log(`${op} ${((t1.user + t1.system) * 1000 / n).toFixed(1)}`);
len.close();
list.close();
py.close();
