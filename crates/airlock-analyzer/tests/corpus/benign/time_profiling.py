import time

import numpy as np

start = time.perf_counter()
a = np.random.default_rng(0).normal(size=(500, 500))
b = a @ a.T
elapsed = time.perf_counter() - start
print(f"matmul took {elapsed * 1000:.1f} ms, trace={np.trace(b):.1f}")
