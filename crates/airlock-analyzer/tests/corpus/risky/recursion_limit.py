# expect: AL101 AL506
import sys

sys.setrecursionlimit(10**8)

def dive(n):
    return dive(n + 1)

dive(0)
