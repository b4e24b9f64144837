import numpy as np

rng = np.random.default_rng(2)
R = rng.normal(size=(120, 30)) * 0.01
sample = np.cov(R, rowvar=False)
target = np.diag(np.diag(sample))
shrunk = 0.3 * target + 0.7 * sample
print(np.linalg.cond(sample), np.linalg.cond(shrunk))
