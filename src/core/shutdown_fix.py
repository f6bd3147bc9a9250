import sys
t = sys.modules.get('threading')
m = getattr(t, '_main_thread', None)
if m is not None and m.ident != t.get_ident():
    lk = getattr(m, '_tstate_lock', None)
    if lk is not None and lk.locked():
        lk.release()
