import asyncio, inspect
CancelledError = asyncio.CancelledError
async def _wrap(aw):
    return await aw
def as_coro(obj):
    if inspect.iscoroutine(obj):
        return obj
    if inspect.isawaitable(obj):
        return _wrap(obj)
    return None
async def _beating(coro):
    loop = asyncio.get_running_loop()
    h = None
    def beat():
        nonlocal h
        h = loop.call_later(0.05, beat)
    beat()
    try:
        return await coro
    finally:
        h.cancel()
def run(coro):
    b = _beating(coro)
    try:
        return asyncio.run(b)
    except BaseException:
        b.close()
        raise
def new_loop():
    return asyncio.new_event_loop()
def loop_run(loop):
    asyncio.set_event_loop(loop)
    loop.run_forever()
async def _tick():
    await asyncio.sleep(0)
def loop_shutdown(loop, grace):
    loop._pyshim_closing = True
    try:
        loop.run_until_complete(_tick())
        for _ in range(2):
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if not tasks:
                break
            for t in tasks:
                t.cancel()
            loop.run_until_complete(asyncio.wait(tasks, timeout=grace))
        loop.run_until_complete(_tick())
        loop.run_until_complete(loop.shutdown_asyncgens())
        sde = getattr(loop, 'shutdown_default_executor', None)
        if sde is not None:
            loop.run_until_complete(sde())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
class Job:
    __slots__ = ('coro', 'loop', 'cb', 'task', 'cancelled')
    def __init__(self, coro, loop, cb):
        self.coro = coro
        self.loop = loop
        self.cb = cb
        self.task = None
        self.cancelled = False
    def start(self):
        coro, self.coro = self.coro, None
        if coro is None:
            return
        if self.cancelled:
            coro.close()
            self.report(2, None)
            return
        try:
            task = self.loop.create_task(coro)
        except BaseException as e:
            coro.close()
            self.report(1, e)
            return
        self.task = task
        task.add_done_callback(self.done)
    def done(self, task):
        self.task = None
        if task.cancelled():
            self.report(2, None)
            return
        e = task.exception()
        if e is None:
            self.report(0, task.result())
        else:
            self.report(1, e)
    def report(self, kind, value):
        cb, self.cb = self.cb, None
        if cb is not None:
            cb(kind, value)
    def cancel(self):
        if self.task is not None:
            self.task.cancel()
        elif self.coro is not None:
            self.cancelled = True
def submit(coro, loop, cb):
    job = Job(coro, loop, cb)
    loop.call_soon_threadsafe(job.start)
    return job
def cancel(job):
    job.loop.call_soon_threadsafe(job.cancel)
def _stop(loop):
    if not getattr(loop, '_pyshim_closing', False):
        loop.stop()
def stop(loop):
    try:
        loop.call_soon_threadsafe(_stop, loop)
    except RuntimeError:
        pass
def discard(coro):
    try:
        coro.close()
    except BaseException:
        pass
