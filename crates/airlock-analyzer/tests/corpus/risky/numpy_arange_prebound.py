# expect: AL502
steps = np.arange(10**12)
