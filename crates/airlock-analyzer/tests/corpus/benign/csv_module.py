import csv
import io

raw = "ticker,weight\nAAPL,0.4\nMSFT,0.6\n"
reader = csv.DictReader(io.StringIO(raw))
weights = {row["ticker"]: float(row["weight"]) for row in reader}
print(weights, sum(weights.values()))
