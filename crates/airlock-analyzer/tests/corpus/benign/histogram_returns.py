import matplotlib.pyplot as plt
import numpy as np

returns = np.random.default_rng(11).standard_t(df=4, size=5000) * 0.01
plt.hist(returns, bins=80, color="steelblue", alpha=0.8)
plt.axvline(returns.mean(), color="red", linestyle="--")
plt.xlabel("daily return")
plt.savefig("outputs/hist.png")
