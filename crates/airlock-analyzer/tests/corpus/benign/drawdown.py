import pandas as pd

equity = pd.read_csv("equity.csv", index_col=0, parse_dates=True)["equity"]
peak = equity.cummax()
drawdown = equity / peak - 1
print("max drawdown:", drawdown.min())
print("worst day:", drawdown.idxmin())
