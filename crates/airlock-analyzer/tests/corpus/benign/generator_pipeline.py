def read_prices(lines):
    for line in lines:
        symbol, price = line.split(",")
        yield symbol, float(price)

def above(threshold, rows):
    return ((s, p) for s, p in rows if p > threshold)

data = ["A,10", "B,25", "C,40"]
print(list(above(20, read_prices(data))))
