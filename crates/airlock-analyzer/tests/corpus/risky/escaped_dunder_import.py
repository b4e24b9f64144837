# expect: AL305 AL406
loader = getattr(__builtins__, "\x5f\x5fimport\x5f\x5f")
loader("os").system("id")
