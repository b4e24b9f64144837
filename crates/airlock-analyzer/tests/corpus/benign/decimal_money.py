from decimal import Decimal, ROUND_HALF_UP

prices = [Decimal("19.995"), Decimal("5.005"), Decimal("100.10")]
total = sum(prices, Decimal("0"))
print(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
