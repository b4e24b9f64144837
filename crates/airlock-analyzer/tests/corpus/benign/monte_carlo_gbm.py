import numpy as np

rng = np.random.default_rng(99)
s0, mu, sigma, days, paths = 100.0, 0.07, 0.2, 252, 10_000
dt = 1 / days
shocks = rng.normal((mu - 0.5 * sigma**2) * dt, sigma * np.sqrt(dt), size=(paths, days))
terminal = s0 * np.exp(shocks.sum(axis=1))
print("VaR 95%:", np.percentile(terminal - s0, 5))
