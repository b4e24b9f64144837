import pandas as pd

ticks = pd.read_csv("ticks.csv", parse_dates=["ts"]).set_index("ts")
weekly = ticks["price"].resample("W").ohlc()
weekly["volume"] = ticks["size"].resample("W").sum()
print(weekly.head(10))
