import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore", category=RuntimeWarning)
values = np.array([1.0, 0.0, -1.0])
print(np.log(values))
print(pd.Series(values).pct_change())
