# expect: AL201 AL402 AL403
exec(bytes([112, 114, 105, 110, 116, 40, 49, 41]).decode())
