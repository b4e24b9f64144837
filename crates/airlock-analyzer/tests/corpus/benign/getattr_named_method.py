import pandas as pd

df = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
for how in ("mean", "median", "max"):
    print(how, getattr(df, how)().to_dict())
