import numpy as np

prices = np.array([10.0, 10.5, 10.2, 11.0, 12.5])
for i, p in enumerate(prices):
    if p > 12:
        print("breakout at", i)
        break
else:
    print("no breakout")
