'use strict';
// Tests of the Node binding, on the Python PYSHIM_TEST_LIBPYTHON names.
const test = require('node:test');
const assert = require('node:assert');
const pyshim = require('..');

const lib = process.env.PYSHIM_TEST_LIBPYTHON;
assert.ok(lib, 'PYSHIM_TEST_LIBPYTHON not set');
const py = pyshim.open({ library_path: lib, argv: ['node-test'] });
test.after(() => py.close());

test('abi version and constants from the description', () => {
  assert.strictEqual(pyshim.C.pys_ffi_abi_version(), pyshim.K.PYS_FFI_ABI_VERSION);
  assert.strictEqual(pyshim.K.PYS_FFI_E_TYPE, -10);
});

test('exec, eval, import, call, callf', () => {
  py.exec('import math');
  assert.strictEqual(py.eval('math.gcd').call(84, 36).value(), 12);
  assert.strictEqual(py.import('math').attr('gcd').callf('q q', 84, 36).value(), 12);
  assert.strictEqual(py.eval('lambda a, b: a + b').callf('I b', 4294967295, true).value(), 4294967296);
  assert.strictEqual(py.eval("__import__('sys').argv[0]").value(), 'node-test');
});

test('call with 0 to 5 arguments (integer calls up to 3, the array call beyond)', () => {
  const f = py.eval('lambda *a: list(a)');
  for (let n = 0; n <= 5; n++) {
    const args = Array.from({ length: n }, (_, i) => (i % 2 ? `s${i}` : i));
    assert.deepStrictEqual(f.call(...args).value(), args);
  }
  const boom = py.eval('lambda *a: 1 / 0');
  for (let n = 0; n <= 4; n++) {
    assert.throws(() => boom.call(...Array(n).fill(1)), (e) => e.type === 'ZeroDivisionError');
  }
  const before = py.handleCount();
  for (let i = 0; i < 100; i++) f.call(1, 2, 3).close();
  assert.strictEqual(py.handleCount(), before, 'no handle left behind');
});

test('round trips: int, float, str with NUL and non-ASCII, bytes, bool, None, BigInt', () => {
  const id = py.eval('lambda x: x');
  assert.strictEqual(id.call(2 ** 52).value(), 2 ** 52);
  assert.strictEqual(id.call(-7).value(), -7);
  assert.strictEqual(id.call(0.25).value(), 0.25);
  const s = 'a\0b\u00e9\u20ac';
  assert.strictEqual(id.call(s).value(), s);
  assert.strictEqual(py.eval('len').call(s).value(), 5);
  assert.deepStrictEqual(id.call(Buffer.from([0, 1])).value(), Buffer.from([0, 1]));
  assert.strictEqual(id.call(true).value(), true);
  assert.strictEqual(id.call(null).value(), null);
  assert.strictEqual(py.eval('2**62').value(), 2n ** 62n);
  assert.strictEqual(py.eval('2**64 - 1').value(), 2n ** 64n - 1n);
});

test('arrays and objects both ways, kwargs', () => {
  const d = py.value({ a: 1, b: [1.5, 2.5] });
  assert.strictEqual(py.eval('lambda d: sorted(d.items())').call(d).repr(), "[('a', 1), ('b', [1.5, 2.5])]");
  assert.deepStrictEqual(py.eval("{'x': [1, 2, (3, 'y')]}").value(), { x: [1, 2, [3, 'y']] });
  assert.strictEqual(py.eval('[1, 2, 3]').length, 3);
  py.exec('def kw(a, b=0, *, c=0): return a + b * 10 + c * 100');
  assert.strictEqual(py.eval('kw').callKw([1], { b: 2, c: 3 }).value(), 321);
});

test('errors carry type, message and traceback', () => {
  assert.throws(() => py.eval('1/0'), (e) => e instanceof pyshim.PyError &&
    e.type === 'ZeroDivisionError' && e.codeName === 'PYS_E_PYTHON' &&
    e.traceback.includes('ZeroDivisionError'));
  assert.throws(() => py.eval('max').callf('q q', 1), (e) => e.codeName === 'PYS_E_ARG');
});

test('callbacks: values in and out', () => {
  py.register('add', (a, b, kw) => a + b + (kw ? kw.plus : 0));
  assert.strictEqual(py.eval("__import__('c_bridge').add(1, 2, plus=39)").value(), 42);
  py.register('echo', (s) => s);
  assert.strictEqual(py.eval("__import__('c_bridge').echo('x\\x00\\u00e9')").value(), 'x\0\u00e9');
});

test('a callback that throws: Python sees an exception, nothing leaks, no success', () => {
  py.register('boom', () => { throw new Error('js says no'); });
  py.exec(`
import c_bridge
def run():
    try:
        c_bridge.boom()
    except RuntimeError as e:
        return str(e)
    return 'no error'
`);
  const before = py.handleCount();
  const o = py.eval('run()');
  const msg = o.value();
  o.close();
  assert.ok(msg.includes('js says no'), msg);
  // 1000 failing calls: a handle leaked per throw would show as +1000
  // (the finalizer of earlier tests' objects may only lower the count).
  for (let i = 0; i < 1000; i++) py.eval('run()').close();
  assert.ok(py.handleCount() <= before, `${py.handleCount()} handles, ${before} before`);
  py.register('nested', () => py.eval('undefined_name'));
  py.exec(`
def run2():
    try:
        c_bridge.nested()
    except NameError:
        return 'NameError'
    return 'other'
`);
  assert.strictEqual(py.eval('run2()').value(), 'NameError');
});

test('a Python thread calls JS while JS is busy elsewhere; JS joins it', () => {
  let calls = 0;
  py.register('from_thread', (x) => { calls++; return x * 2; });
  py.exec(`
import threading, c_bridge
result = []
def work():
    result.append(c_bridge.from_thread(21))
    try:
        c_bridge.boom()
    except RuntimeError:
        result.append('raised')
t = threading.Thread(target=work)
t.start()
`);
  // Busy in JS (no pyshim call): the Python thread waits without the GIL.
  const end = Date.now() + 100;
  while (Date.now() < end);
  assert.strictEqual(calls, 0);
  assert.strictEqual(py.eval('sum(range(10))').value(), 45, 'Python still runs');
  assert.strictEqual(py.join(py.eval('t'), 60), true);
  assert.strictEqual(calls, 1);
  assert.strictEqual(py.eval('result').repr(), "[42, 'raised']");
});

test('withGIL batch', () => {
  const { C } = pyshim;
  const s = py.withGIL(() => {
    let acc = 0;
    for (let i = 1; i <= 1000; i++) {
      const h = C.pys_ffi_from_int64(py.rt, i);
      acc += C.pys_ffi_int64(h);
      C.pys_ffi_release(h);
    }
    return acc;
  });
  assert.strictEqual(s, 500500);
});
