# expect: AL302
import operator

def helper():
    return 0

scope = operator.attrgetter("__globals__")(helper)
