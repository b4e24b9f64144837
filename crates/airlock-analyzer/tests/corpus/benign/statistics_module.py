import statistics

latencies = [12.1, 11.8, 13.4, 12.9, 40.2, 12.0]
print("median", statistics.median(latencies))
print("stdev", statistics.stdev(latencies))
print("quantiles", statistics.quantiles(latencies, n=4))
