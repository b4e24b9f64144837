# expect: AL502
padding = "x" * 10**12
