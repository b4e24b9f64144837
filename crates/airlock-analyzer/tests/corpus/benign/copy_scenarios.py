import copy

base = {"rates": {"us": 0.05, "eu": 0.04}, "shock": 0.0}
scenarios = []
for shock in (-0.01, 0.0, 0.01):
    s = copy.deepcopy(base)
    s["shock"] = shock
    s["rates"] = {k: v + shock for k, v in s["rates"].items()}
    scenarios.append(s)
print(scenarios)
