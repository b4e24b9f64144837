import numpy as np
import pandas as pd

prices = pd.read_csv("pairs.csv", index_col=0)
a, b = prices["KO"], prices["PEP"]
beta = np.polyfit(b, a, 1)[0]
spread = a - beta * b
z = (spread - spread.rolling(60).mean()) / spread.rolling(60).std()
position = np.where(z > 2, -1, np.where(z < -2, 1, 0))
print(pd.Series(position, index=prices.index).value_counts())
