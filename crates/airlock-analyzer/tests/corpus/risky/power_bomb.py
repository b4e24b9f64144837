# expect: AL503
x = 10 ** 10 ** 10
print(x % 7)
