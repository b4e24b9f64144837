import pandas as pd

stocks = pd.DataFrame({
    "ticker": ["AAPL", "MSFT", "XOM", "CVX", "JPM"],
    "sector": ["Tech", "Tech", "Energy", "Energy", "Financials"],
    "ret": [0.012, 0.008, -0.004, 0.002, 0.005],
})
by_sector = stocks.groupby("sector")["ret"].agg(["mean", "std", "count"])
print(by_sector.sort_values("mean", ascending=False))
