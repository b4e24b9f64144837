import numpy as np
import pandas as pd

prices = pd.read_csv("universe.csv", index_col=0, parse_dates=True)
returns = prices.pct_change()
momentum = prices.shift(21) / prices.shift(252) - 1
ranks = momentum.rank(axis=1, pct=True)
long_leg = ranks.gt(0.8)
factor_ret = (returns.shift(-1)[long_leg].mean(axis=1)).dropna()
print("annualized:", factor_ret.mean() * 252, "vol:", factor_ret.std() * np.sqrt(252))
