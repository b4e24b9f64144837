import numpy as np

aggregations = {"mean": np.mean, "median": np.median, "std": np.std}
values = np.array([1.0, 2.0, 4.0, 8.0])
for name, fn in aggregations.items():
    print(name, fn(values))
