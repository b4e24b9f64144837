import numpy as np
import pandas as pd

rets = pd.read_csv("prices.csv", index_col=0)["close"].pct_change().dropna()
ewm_vol = rets.ewm(span=30).std() * np.sqrt(252)
print(ewm_vol.describe())
