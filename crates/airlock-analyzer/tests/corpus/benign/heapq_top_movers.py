import heapq

moves = {"AAPL": 0.021, "TSLA": -0.054, "NVDA": 0.087, "XOM": -0.012, "JPM": 0.004}
print("top", heapq.nlargest(2, moves.items(), key=lambda kv: kv[1]))
print("bottom", heapq.nsmallest(2, moves.items(), key=lambda kv: kv[1]))
