tickers = []
with open("tickers.txt") as handle:
    for line in handle:
        line = line.strip()
        if line and not line.startswith("#"):
            tickers.append(line.upper())
print(tickers)
