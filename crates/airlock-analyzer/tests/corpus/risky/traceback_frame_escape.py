# expect: AL101 AL304
import sys

try:
    1 / 0
except ZeroDivisionError:
    tb = sys.exc_info()[2]
    runner_globals = tb.tb_frame.f_back.f_globals
    print(runner_globals.keys())
