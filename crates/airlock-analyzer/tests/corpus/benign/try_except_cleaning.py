import pandas as pd

raw = ["1.5", "2.0", "n/a", "3.25", ""]
clean = []
for value in raw:
    try:
        clean.append(float(value))
    except ValueError:
        clean.append(float("nan"))
print(pd.Series(clean).interpolate())
