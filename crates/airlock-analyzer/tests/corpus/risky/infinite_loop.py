# expect: AL501
x = 0
while True:
    x = x + 1
