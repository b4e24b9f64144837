import matplotlib.pyplot as plt
import pandas as pd

ohlc = pd.read_csv("ohlc.csv", parse_dates=["date"])
fig, ax = plt.subplots(figsize=(12, 5))
colors = ["green" if c >= o else "red" for o, c in zip(ohlc["open"], ohlc["close"])]
ax.vlines(ohlc["date"], ohlc["low"], ohlc["high"], color="black", linewidth=0.5)
ax.bar(ohlc["date"], ohlc["close"] - ohlc["open"], bottom=ohlc["open"], color=colors, width=0.6)
fig.autofmt_xdate()
