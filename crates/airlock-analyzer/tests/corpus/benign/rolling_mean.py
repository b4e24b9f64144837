import pandas as pd

df = pd.read_csv("prices.csv", parse_dates=["date"], index_col="date")
df["ma20"] = df["close"].rolling(20).mean()
df["ma50"] = df["close"].rolling(50).mean()
df["signal"] = (df["ma20"] > df["ma50"]).astype(int)
print(df.tail())
