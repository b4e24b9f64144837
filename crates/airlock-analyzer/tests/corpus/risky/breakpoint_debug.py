# expect: AL209
prices = [1, 2, 3]
breakpoint()
