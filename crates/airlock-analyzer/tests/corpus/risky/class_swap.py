# expect: AL308
class Harmless:
    pass

class Payload:
    def __del__(self):
        print("swapped")

obj = Harmless()
obj.__class__ = Payload
