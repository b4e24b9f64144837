# expect: AL302
def noop():
    pass

leaked_builtins = noop.__globals__["__builtins__"]
print(leaked_builtins)
