import pandas as pd

result = pd.DataFrame({"ticker": ["A", "B"], "weight": [0.6, 0.4]})
result.to_csv("outputs/weights.csv", index=False)
result.to_json("outputs/weights.json", orient="records")
