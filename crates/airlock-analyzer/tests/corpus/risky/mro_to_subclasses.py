# expect: AL301 AL303
root = int.__mro__[-1]
for cls in root.__subclasses__():
    print(cls)
