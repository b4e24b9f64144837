import numpy as np

grid = np.zeros((2000, 2000))
grid[::10, ::10] = 1.0
print(grid.sum(), [0] * 1000 == [0] * 1000)
