# expect: AL504
s = 0
for i in range(10**13):
    s += i
print(s)
