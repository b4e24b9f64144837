import numpy as np
from scipy import stats

rng = np.random.default_rng(3)
a = rng.normal(0.001, 0.02, 500)
b = rng.normal(0.000, 0.02, 500)
t, p = stats.ttest_ind(a, b, equal_var=False)
print(f"t={t:.3f} p={p:.4f}")
print("skew", stats.skew(a), "kurtosis", stats.kurtosis(a))
