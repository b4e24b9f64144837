import pandas as pd

prices = pd.read_csv("prices.csv")
fundamentals = pd.read_csv("fundamentals.csv")
merged = prices.merge(fundamentals, on=["ticker", "date"], how="left")
merged["pe"] = merged["close"] / merged["eps"]
merged = merged.dropna(subset=["pe"])
print(merged.describe())
