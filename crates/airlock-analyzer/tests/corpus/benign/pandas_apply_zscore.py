import pandas as pd

df = pd.read_csv("panel.csv")
df["z"] = df.groupby("date")["value"].transform(lambda s: (s - s.mean()) / s.std())
print(df.head())
