'use strict';
// pyshim for Node: run the installed CPython in-process, over koffi and
// libpyshim's FFI face (include/pyshim_ffi.h).
//
//   const pyshim = require('pyshim');
//   const py = pyshim.open({ library_path: '...' });
//   py.exec('import math');
//   py.eval('math.gcd').call(84, 36).value();        // 12
//   py.register('greet', (name) => 'hi ' + name);    // c_bridge.greet
//   py.close();
//
// Every declaration comes from the API description (api/pyshim-api.json):
// the functions and constants of pyshim_ffi.h, none written here by hand.
//
// Values: null/undefined <-> None, booleans, numbers (an integer becomes
// an int, others a float; ints come back as numbers, or BigInt beyond
// 2^53), BigInt -> int, strings (NULs kept), Buffer/Uint8Array -> bytes
// (bytes come back as Buffer), arrays <-> lists (tuples come back as
// arrays), plain objects <-> dicts, and PyObject (a handle to any Python
// object; released by close() or when collected).
//
// Errors throw PyError (code, codeName, type, message, traceback).
//
// Callbacks run on the JS thread only: a Python thread that calls one
// waits (without the GIL) until JS runs py.pump(ms) or py.join(thread). A
// JS exception in a callback raises RuntimeError in Python (or the original
// Python exception when a pyshim call failed), never a success.
const fs = require('fs');
const path = require('path');
const koffi = require('koffi');

const apiPath = process.env.PYSHIM_API_JSON || path.join(__dirname, '..', '..', 'api', 'pyshim-api.json');
const api = JSON.parse(fs.readFileSync(apiPath, 'utf8'));
const lib = koffi.load(process.env.PYSHIM_LIB || 'libpyshim.so');

// ---- declarations, from the description --------------------------------------

// The face's opaque pointers (pys_runtime *, pys_future *, ...) are only
// handed back to pyshim, never read: they cross as uintptr_t, a JS number
// (user-space addresses are below 2^53). koffi wraps and unwraps a real
// pointer in an External on every call, which costs more than the call
// (about 150 ns to pass one and 500 to return one, against 50 for an
// integer); pointers and integers travel in the same registers.
const opaque = new Set();
for (const o of api.opaque) {
  if (o.header === 'pyshim_ffi.h') opaque.add(o.name);
}
const callbackTypes = new Set();
const protos = {};
function kType(t, isReturn) {
  const m = /^(?:const )?(\w+) \*$/.exec(t);
  if (m && opaque.has(m[1])) return 'uintptr_t';
  t = t.replace('const char *const *', 'const char **');
  if (callbackTypes.has(t)) return t + ' *';
  // Results pyshim allocates are freed by pys_ffi_free: keep the pointer.
  if (isReturn && t === 'char *') return 'void *';
  // Caller buffers are filled in place: pass a Buffer.
  if (!isReturn && t === 'char *') return 'uint8_t *';
  return t;
}
for (const cb of api.callbacks) {
  if (cb.header !== 'pyshim_ffi.h') continue;
  const params = cb.params.map((p) => kType(p.type) + ' ' + p.name).join(', ');
  protos[cb.name] = koffi.proto(`${kType(cb.returns, true)} ${cb.name}(${params})`);
  callbackTypes.add(cb.name);
}
const C = {};
for (const f of api.functions) {
  if (f.header !== 'pyshim_ffi.h') continue;
  const params = f.params.map((p) => kType(p.type) + ' ' + p.name).join(', ');
  C[f.name] = lib.func(`${kType(f.returns, true)} ${f.name}(${params || 'void'})`);
}
// Binary strings go in as a Buffer.
C.pys_ffi_from_strn_buf = lib.func('uint64_t pys_ffi_from_strn(uintptr_t rt, const uint8_t *s, size_t len)');
C.pys_ffi_from_bytes_buf = lib.func('uint64_t pys_ffi_from_bytes(uintptr_t rt, const uint8_t *s, size_t len)');
const K = {};
for (const e of api.enums) {
  if (e.header !== 'pyshim_ffi.h') continue;
  for (const v of e.values) K[v.name] = v.value;
}
const OK = K.PYS_FFI_OK;

// ---- errors -----------------------------------------------------------------------

let sbuf = Buffer.alloc(4096);
function readInto(f, ...args) {
  let n = Number(f(...args, sbuf, sbuf.length));
  if (n < 0) return null;
  if (n > sbuf.length) {
    sbuf = Buffer.alloc(n + 1);
    n = Number(f(...args, sbuf, sbuf.length));
  }
  return Buffer.from(sbuf.subarray(0, n));
}
function field(f) {
  return readInto(f).toString('utf8');
}

class PyError extends Error {
  constructor() {
    const code = C.pys_ffi_error_code();
    const type = field(C.pys_ffi_error_type);
    const message = field(C.pys_ffi_error_message);
    super(type ? `${type}: ${message}` : message);
    this.code = code;
    this.codeName = C.pys_ffi_err_name(code);
    this.type = type;
    this.pyMessage = message;
    this.context = field(C.pys_ffi_error_context);
    this.traceback = field(C.pys_ffi_error_traceback);
  }
}

function check(h) {
  if (h === 0) throw new PyError();
  return h;
}

// ---- objects -----------------------------------------------------------------------

const finalizer = new FinalizationRegistry((id) => C.pys_ffi_release(id));
let current = null;

class PyObject {
  constructor(id, owned = true) {
    this.id = id;
    this.owned = owned;
    if (owned) finalizer.register(this, id, this);
  }
  close() {
    if (this.owned && this.id) {
      finalizer.unregister(this);
      C.pys_ffi_release(this.id);
      this.id = 0;
    }
  }
  value() { return toJS(this.id); }
  attr(name) { return wrap(C.pys_ffi_getattr(this.id, name)); }
  setAttr(name, v) {
    const h = check(toHandle(v));
    const rc = C.pys_ffi_setattr(this.id, name, h);
    C.pys_ffi_release(h);
    if (rc !== OK) throw new PyError();
  }
  call(...args) {
    const hs = handles(args);
    try {
      // Up to three arguments go as integers: koffi copies an array
      // argument on every call, which costs more than the call.
      switch (hs.length) {
        case 0: return wrap(C.pys_ffi_call0(this.id));
        case 1: return wrap(C.pys_ffi_call1(this.id, hs[0]));
        case 2: return wrap(C.pys_ffi_call2(this.id, hs[0], hs[1]));
        case 3: return wrap(C.pys_ffi_call3(this.id, hs[0], hs[1], hs[2]));
        default: return wrap(C.pys_ffi_call(this.id, hs, hs.length));
      }
    } finally {
      hs.forEach((h) => C.pys_ffi_release(h));
    }
  }
  callKw(args, kwargs) {
    const hs = handles(args || []);
    const kw = kwargs ? check(toHandle(kwargs)) : 0;
    try {
      return wrap(C.pys_ffi_call_kw(this.id, hs, hs.length, kw));
    } finally {
      hs.forEach((h) => C.pys_ffi_release(h));
      if (kw) C.pys_ffi_release(kw);
    }
  }
  // this(values) with a pyshim format: numbers (or BigInt) for q Q i b d,
  // strings or Buffers for s y, PyObjects for O. No handle per argument.
  callf(fmt, ...vals) {
    const v = fill(fmt, vals);
    return wrap(C.pys_ffi_callv(this.id, fmt, v.ints, v.ints.length, v.dbls, v.dbls.length,
      v.strs, v.lens, v.strs.length, v.objs, v.objs.length));
  }
  method(name, ...args) {
    const m = this.attr(name);
    try { return m.call(...args); } finally { m.close(); }
  }
  get length() {
    const n = C.pys_ffi_len(this.id);
    if (C.pys_ffi_status() !== OK) throw new PyError();
    return Number(n);
  }
  item(key) {
    const k = check(toHandle(key));
    try { return wrap(C.pys_ffi_getitem(this.id, k)); } finally { C.pys_ffi_release(k); }
  }
  repr() { return withObj(C.pys_ffi_repr(this.id), (o) => o.value()); }
  toString() { return withObj(C.pys_ffi_str(this.id), (o) => o.value()); }
}

function wrap(id) { return new PyObject(check(id)); }
function withObj(id, fn) {
  const o = wrap(id);
  try { return fn(o); } finally { o.close(); }
}

// Which typed array each format letter's value goes to, from the
// library's own table (pys_ffi_format_codes): a value code added to
// libpyshim needs no change here.
const codeArray = new Map();
for (const a of ['INTS', 'DBLS', 'STRS', 'OBJS']) {
  for (const c of C.pys_ffi_format_codes(K[`PYS_FFI_ARRAY_${a}`])) codeArray.set(c, a);
}
const codeRe = new RegExp(`[${[...codeArray.keys()].join('')}]#?`, 'g');

function fill(fmt, vals) {
  const v = { ints: [], dbls: [], strs: [], lens: [], objs: [] };
  const codes = fmt.replace(/[A-Za-z_]\w*=/g, '').match(codeRe) || [];
  if (vals.length > codes.length) throw new TypeError(`more values than the format '${fmt}' uses`);
  codes.slice(0, vals.length).forEach((code, i) => {
    const x = vals[i];
    switch (codeArray.get(code[0])) {
      case 'DBLS': v.dbls.push(x); break;
      case 'STRS': {
        const b = Buffer.isBuffer(x) ? x : Buffer.from(String(x), 'utf8');
        v.strs.push(b); v.lens.push(b.length); break;
      }
      case 'OBJS': v.objs.push(x.id); break;
      default: v.ints.push(typeof x === 'boolean' ? (x ? 1 : 0) : x);
    }
  });
  return v;
}

function handles(args) {
  const hs = [];
  for (const a of args) {
    const h = toHandle(a);
    if (h === 0) {
      hs.forEach((x) => C.pys_ffi_release(x));
      throw new PyError();
    }
    hs.push(h);
  }
  return hs;
}

// A new handle for a JS value (the caller releases it), or 0.
function toHandle(v) {
  const rt = current.rt;
  if (v === null || v === undefined) return C.pys_ffi_none(rt);
  switch (typeof v) {
    case 'boolean': return C.pys_ffi_from_bool(rt, v ? 1 : 0);
    case 'number':
      return Number.isSafeInteger(v) ? C.pys_ffi_from_int64(rt, v) : C.pys_ffi_from_double(rt, v);
    case 'bigint':
      return v < 0n ? C.pys_ffi_from_int64(rt, v) : C.pys_ffi_from_uint64(rt, v);
    case 'string': {
      const b = Buffer.from(v, 'utf8');
      return C.pys_ffi_from_strn_buf(rt, b, b.length);
    }
    default: break;
  }
  if (v instanceof PyObject) return C.pys_ffi_dup(v.id);
  if (v instanceof Uint8Array) return C.pys_ffi_from_bytes_buf(rt, v, v.length);
  if (Array.isArray(v)) {
    const hs = handles(v);
    const l = C.pys_ffi_list_new(rt, hs, hs.length);
    hs.forEach((h) => C.pys_ffi_release(h));
    return l;
  }
  if (typeof v === 'object') {
    const d = C.pys_ffi_dict_new(rt);
    for (const [k, x] of Object.entries(v)) {
      const kh = toHandle(k);
      const xh = toHandle(x);
      const rc = kh && xh ? C.pys_ffi_setitem(d, kh, xh) : K.PYS_FFI_E_ARG;
      if (kh) C.pys_ffi_release(kh);
      if (xh) C.pys_ffi_release(xh);
      if (rc !== OK) {
        C.pys_ffi_release(d);
        return 0;
      }
    }
    return d;
  }
  throw new TypeError(`pyshim: cannot convert a ${typeof v} to Python`);
}

const tname = Buffer.alloc(128);
function toJS(id) {
  if (C.pys_ffi_type_name(id, tname, tname.length) !== OK) throw new PyError();
  const t = tname.toString('utf8', 0, tname.indexOf(0));
  switch (t) {
    case 'int': {
      const v = C.pys_ffi_int64(id);
      if (C.pys_ffi_status() === OK) return typeof v === 'bigint' ? v : v;
      const u = C.pys_ffi_uint64(id);
      if (C.pys_ffi_status() !== OK) throw new PyError();
      return BigInt(u);
    }
    case 'float': return C.pys_ffi_double(id);
    case 'bool': return C.pys_ffi_bool(id) !== 0;
    case 'NoneType': return null;
    case 'str': {
      const b = readInto(C.pys_ffi_str_read, id);
      if (!b) throw new PyError();
      return b.toString('utf8');
    }
    case 'bytes': case 'bytearray': {
      const b = readInto(C.pys_ffi_bytes_read, id);
      if (!b) throw new PyError();
      return b;
    }
    case 'list': case 'tuple': {
      const n = Number(C.pys_ffi_len(id));
      const out = [];
      for (let i = 0; i < n; i++) out.push(withObj(C.pys_ffi_getitem_index(id, i), (o) => o.value()));
      return out;
    }
    case 'dict': {
      const out = {};
      withObj(C.pys_ffi_items(id), (items) => {
        for (const [k, v] of items.value()) out[k] = v;
      });
      return out;
    }
    default:
      return wrap(C.pys_ffi_dup(id));
  }
}

// ---- callbacks ----------------------------------------------------------------------

const callbacks = new Map(); // ctx -> { fn, raw }
let nextCtx = 1;

const trampoline = koffi.register((ctx, args, nargs, kwargs) => {
  const cb = callbacks.get(Number(ctx));
  try {
    const ids = nargs ? koffi.decode(args, 'uint64_t', Number(nargs)) : [];
    const vals = ids.map((id) => (cb.raw ? new PyObject(Number(id), false) : toJS(Number(id))));
    if (kwargs) vals.push(cb.raw ? new PyObject(Number(kwargs), false) : toJS(Number(kwargs)));
    return toHandle(cb.fn(...vals));
  } catch (e) {
    if (e instanceof PyError) return 0; // Python gets the failed call's exception
    C.pys_ffi_fail('RuntimeError', String(e && e.stack ? e.stack : e));
    return 0;
  }
}, koffi.pointer(protos.pys_ffi_fn));

const releaseCb = koffi.register((ctx) => {
  callbacks.delete(Number(ctx));
}, koffi.pointer(protos.pys_ffi_release_fn));

// ---- the runtime -----------------------------------------------------------------------

const listKeys = new Set(['dependencies', 'find_links', 'argv']);

class Runtime {
  constructor(rt) { this.rt = rt; }
  close() {
    if (C.pys_ffi_close(this.rt) !== OK) throw new PyError();
    current = null;
  }
  exec(src) { if (C.pys_ffi_exec(this.rt, src) !== OK) throw new PyError(); }
  eval(expr) { return wrap(C.pys_ffi_eval(this.rt, expr)); }
  import(name) { return wrap(C.pys_ffi_import(this.rt, name)); }
  value(v) { return wrap(toHandle(v)); }
  handleCount() { return Number(C.pys_ffi_handle_count(this.rt)); }
  // Registers fn as c_bridge.<name>; opts.raw: fn gets borrowed PyObjects.
  register(name, fn, opts = {}) {
    const ctx = nextCtx++;
    callbacks.set(ctx, { fn, raw: !!opts.raw });
    const rc = C.pys_ffi_register(this.rt, name, trampoline, ctx, K.PYS_FFI_OWNER_THREAD, releaseCb);
    if (rc !== OK) {
      callbacks.delete(ctx);
      throw new PyError();
    }
  }
  // Runs the callbacks Python threads wait for; returns how many ran.
  pump(timeoutMs = 0) {
    const n = C.pys_bridge_pump(this.rt, timeoutMs);
    if (n < 0) throw new PyError();
    return n;
  }
  // Joins a threading.Thread, running its callbacks meanwhile.
  join(thread, timeoutS) {
    const end = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
    while (withObj(C.pys_ffi_call_methodv(thread.id, 'is_alive', '', null, 0, null, 0, null, null, 0, null, 0),
      (o) => o.value())) {
      this.pump(20);
      if (Date.now() > end) return false;
    }
    thread.method('join').close();
    return true;
  }
  // Runs fn inside one GIL batch.
  withGIL(fn) {
    if (C.pys_ffi_gil_acquire(this.rt) !== OK) throw new PyError();
    try { return fn(); } finally { C.pys_ffi_gil_release(this.rt); }
  }
}

function open(opts = {}) {
  const keys = [];
  const vals = [];
  for (const [k, v] of Object.entries(opts)) {
    if (listKeys.has(k)) {
      for (const x of v) { keys.push(k); vals.push(String(x)); }
    } else {
      keys.push(k);
      vals.push(typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    }
  }
  const rt = C.pys_ffi_open(keys, vals, keys.length);
  if (!rt) throw new PyError();
  current = new Runtime(rt);
  return current;
}

module.exports = { open, PyError, PyObject, C, K, api };
