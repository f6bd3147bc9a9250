import sys
ModuleSpec = type(sys.__spec__)  # importlib.machinery.ModuleSpec, no import
class PyshimHostFinder:
    '''Finds pyshim host modules: modules of C functions registered by
    the program that embeds this interpreter.'''
    def __init__(self):
        self.modules = {}
    def find_spec(self, name, path=None, target=None):
        if name in self.modules:
            return ModuleSpec(name, self, origin='pyshim')
        return None
    def create_module(self, spec):
        return self.modules[spec.name]
    def exec_module(self, module):
        pass
    def invalidate_caches(self):
        pass
    def install(self, name, module, replace):
        module.__spec__ = ModuleSpec(name, self, origin='pyshim')
        module.__loader__ = self
        module.__package__ = ''
        if replace:
            self.modules[name] = module
        else:
            won = self.modules.setdefault(name, module)  # atomic
            if won is not module:
                return won
        sys.modules[name] = module
        return module
    def remove(self, name):
        m = self.modules.pop(name, None)
        if m is not None and sys.modules.get(name) is m:
            del sys.modules[name]
    def uninstall(self):
        for name in list(self.modules):
            self.remove(name)
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
finder = PyshimHostFinder()
sys.meta_path.insert(0, finder)
