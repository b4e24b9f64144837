import pandas as pd

data = pd.read_csv("returns.csv", index_col=0, parse_dates=True)
cov = data["stock"].rolling(126).cov(data["market"])
var = data["market"].rolling(126).var()
beta = (cov / var).dropna()
print(beta.describe())
