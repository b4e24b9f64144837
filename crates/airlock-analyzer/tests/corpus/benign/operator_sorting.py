from operator import attrgetter, itemgetter

rows = [("AAPL", 0.3), ("MSFT", 0.5), ("XOM", 0.2)]
print(sorted(rows, key=itemgetter(1), reverse=True))

class Quote:
    def __init__(self, symbol, bid):
        self.symbol, self.bid = symbol, bid

quotes = [Quote("A", 10.1), Quote("B", 9.9)]
print([q.symbol for q in sorted(quotes, key=attrgetter("bid"))])
