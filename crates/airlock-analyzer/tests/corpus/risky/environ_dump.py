# expect: AL101 AL213
import os

for key, value in os.environ.items():
    print(key, value)
