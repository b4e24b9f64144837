# expect: AL505
import itertools

prices = list(itertools.cycle([100.0, 101.5, 99.8]))
