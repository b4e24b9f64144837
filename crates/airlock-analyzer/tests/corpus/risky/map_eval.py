# expect: AL201
lines = ["1 + 1", "2 * 3"]
results = list(map(eval, lines))
