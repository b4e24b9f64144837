import pandas as pd

close = pd.read_csv("prices.csv")["close"]
mid = close.rolling(20).mean()
band = close.rolling(20).std()
upper, lower = mid + 2 * band, mid - 2 * band
touches = ((close > upper) | (close < lower)).sum()
print("band touches:", touches)
