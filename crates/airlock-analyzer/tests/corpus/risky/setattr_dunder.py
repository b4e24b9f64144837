# expect: AL308
def target():
    return 1

def other():
    return 2

setattr(target, "__code__", other.__code__)
