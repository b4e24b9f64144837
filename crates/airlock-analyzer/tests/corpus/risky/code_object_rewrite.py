# expect: AL302 AL307
import types

template = lambda: 0
code = template.__code__.replace(co_consts=(None, 42))
forged = types.FunctionType(code, {})
print(forged())
