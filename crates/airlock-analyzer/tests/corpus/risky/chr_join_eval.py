# expect: AL201 AL401 AL402
codes = [95, 95, 105, 109, 112, 111, 114, 116, 95, 95, 40, 39, 111, 115, 39, 41]
eval("".join(chr(c) for c in codes))
