import numpy as np

rng = np.random.default_rng(7)
prices = 100 * np.cumprod(1 + rng.normal(0, 0.01, 1000))
cash, position = 10_000.0, 0
for day, price in enumerate(prices):
    if position == 0 and price < prices[max(0, day - 20):day + 1].mean() * 0.97:
        position = cash // price
        cash -= position * price
    elif position and price > prices[max(0, day - 20):day + 1].mean() * 1.03:
        cash += position * price
        position = 0
    if cash + position * price < 5_000:
        print("stop out on day", day)
        break
print("final equity", cash + position * prices[-1])
