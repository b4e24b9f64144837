# expect: AL501
import itertools

total = 0
for i in itertools.count():
    total += i
