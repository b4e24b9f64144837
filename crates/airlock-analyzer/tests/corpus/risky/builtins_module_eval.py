# expect: AL101 AL201
import builtins

value = builtins.eval("2 ** 8")
print(value)
