import atexit, sys, time
def _pyshim_threads_left(report, sys=sys, time=time):
    th = sys.modules.get('_thread')
    t = sys.modules.get('threading')
    for i in range(20):
        ids = []
        unknown = 0
        if t is not None:
            for x in t.enumerate():
                if isinstance(x, (t._MainThread, t._DummyThread)):
                    continue
                n = getattr(x, 'native_id', None)
                if n is None:
                    unknown += 1
                else:
                    ids.append(n)
        count = getattr(th, '_count', None)
        if count is not None:
            unknown += max(0, count() - len(ids) - unknown)
        if not unknown:
            break
        time.sleep(0.005)  # a thread on its way out ends meanwhile
    report(unknown, ids)
def arm(report):
    atexit.register(_pyshim_threads_left, report)
