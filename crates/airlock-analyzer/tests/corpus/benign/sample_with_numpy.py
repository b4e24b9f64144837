import numpy as np

rng = np.random.default_rng(123)
weights = rng.dirichlet(np.ones(10), size=5000)
expected = weights @ rng.normal(0.05, 0.02, 10)
print(expected.mean(), expected.std())
