cash_flows = [-1000, 300, 400, 500, 200]

def npv(rate):
    return sum(cf / (1 + rate) ** t for t, cf in enumerate(cash_flows))

def dnpv(rate):
    return sum(-t * cf / (1 + rate) ** (t + 1) for t, cf in enumerate(cash_flows))

rate = 0.1
for _ in range(100):
    step = npv(rate) / dnpv(rate)
    rate -= step
    if abs(step) < 1e-10:
        break
print(f"IRR = {rate:.4%}")
