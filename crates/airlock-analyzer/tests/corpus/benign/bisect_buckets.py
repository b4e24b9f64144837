import bisect

breakpoints = [-0.02, -0.01, 0.0, 0.01, 0.02]
labels = ["<<", "<", "-", "+", ">", ">>"]
for r in [-0.03, -0.005, 0.0, 0.015, 0.05]:
    print(r, labels[bisect.bisect(breakpoints, r)])
