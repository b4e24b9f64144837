# expect: AL101
import multiprocessing

def burn(_):
    while sum(range(10)) > 0:
        pass

with multiprocessing.Pool(64) as pool:
    pool.map(burn, range(64))
