import math

x = 1.0
iterations = 0
while True:
    nxt = math.cos(x)
    iterations += 1
    if abs(nxt - x) < 1e-12 or iterations > 10_000:
        break
    x = nxt
print(x, iterations)
