import pandas as pd

trades = pd.read_csv("trades.csv", parse_dates=["time"])
trades["hour"] = trades["time"].dt.hour
table = pd.pivot_table(trades, values="pnl", index="hour", columns="side", aggfunc="sum", fill_value=0)
print(table)
