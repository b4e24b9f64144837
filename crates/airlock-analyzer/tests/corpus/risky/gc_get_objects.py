# expect: AL101 AL306
import gc

modules = [o for o in gc.get_objects() if type(o).__name__ == "module"]
print(len(modules))
