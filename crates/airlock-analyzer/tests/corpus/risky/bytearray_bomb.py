# expect: AL502
buffer = bytearray(10**11)
