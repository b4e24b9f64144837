import pandas as pd

trades = pd.read_csv("trades.csv", parse_dates=["time"]).set_index("time")
pv = (trades["price"] * trades["size"]).groupby(trades.index.date).sum()
vol = trades["size"].groupby(trades.index.date).sum()
print((pv / vol).rename("vwap"))
