# expect: AL502
numbers = list(range(10**12))
print(sum(numbers))
