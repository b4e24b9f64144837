# expect: AL502
import numpy as np

cube = np.ones((100000, 100000, 10))
