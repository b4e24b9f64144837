# expect: AL101 AL304
import inspect

for info in inspect.stack():
    print(info.frame.f_locals.keys())
