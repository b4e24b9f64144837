# expect: AL101 AL204
import os

for name in os.listdir("."):
    os.remove(name)
