import itertools

import numpy as np

best = None
for fast, slow in itertools.product(range(5, 30, 5), range(40, 200, 20)):
    if fast >= slow:
        continue
    score = np.sin(fast) + np.cos(slow)
    if best is None or score > best[0]:
        best = (score, fast, slow)
print(best)
