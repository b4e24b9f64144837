def describe(order):
    match order:
        case {"side": "buy", "qty": q} if q > 1000:
            return "large buy"
        case {"side": "buy"}:
            return "buy"
        case {"side": "sell", **rest}:
            return f"sell {rest}"
        case _:
            return "unknown"

print(describe({"side": "buy", "qty": 5000}))
