# expect: AL502
data = [0] * 10**10
print(len(data))
