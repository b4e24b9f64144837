# expect: AL209
symbol = input("Symbol: ")
print(symbol.upper())
