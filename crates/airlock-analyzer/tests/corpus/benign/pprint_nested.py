from pprint import pprint

book = {"equities": {"AAPL": 10, "MSFT": 5}, "bonds": {"UST10Y": 100}, "cash": 2500.0}
pprint(book, width=40)
