import numpy as np
import pandas as pd

daily = pd.Series(np.random.default_rng(5).normal(0.0005, 0.01, 756))
sharpe = daily.mean() / daily.std() * np.sqrt(252)
sortino = daily.mean() / daily[daily < 0].std() * np.sqrt(252)
print(round(sharpe, 2), round(sortino, 2))
