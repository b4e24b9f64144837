# expect: AL304
def ticker():
    yield 1

gen = ticker()
outer = gen.gi_frame.f_back
print(outer)
