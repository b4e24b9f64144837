from collections import Counter, defaultdict

signals = ["buy", "sell", "buy", "hold", "buy", "sell"]
counts = Counter(signals)
by_first = defaultdict(list)
for s in signals:
    by_first[s[0]].append(s)
print(counts.most_common(2), dict(by_first))
