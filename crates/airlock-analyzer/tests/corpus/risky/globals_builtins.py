# expect: AL201 AL210
globals()["__builtins__"].exec("print(1)")
