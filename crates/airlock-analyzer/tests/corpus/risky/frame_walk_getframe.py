# expect: AL101 AL304
import sys

frame = sys._getframe()
while frame:
    print(list(frame.f_globals)[:5])
    frame = frame.f_back
