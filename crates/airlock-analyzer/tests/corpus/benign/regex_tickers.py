import re

headlines = [
    "AAPL beats estimates; MSFT flat",
    "Oil rallies as XOM and CVX rise",
]
pattern = re.compile(r"\b[A-Z]{2,5}\b")
mentions = {h: pattern.findall(h) for h in headlines}
for headline, tickers in mentions.items():
    print(tickers, "-", headline)
