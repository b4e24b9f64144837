# expect: AL305 AL405
pick = lambda name: getattr(__builtins__, name)
pick("exec")("print(2)")
