import numpy as np
import pandas as pd
import talib

df = pd.read_csv("ohlcv.csv")
close = df["close"].to_numpy(dtype=float)
df["rsi"] = talib.RSI(close, timeperiod=14)
macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
df["macd_hist"] = hist
upper, middle, lower = talib.BBANDS(close, timeperiod=20)
df["bb_width"] = (upper - lower) / middle
print(df[["rsi", "macd_hist", "bb_width"]].tail())
