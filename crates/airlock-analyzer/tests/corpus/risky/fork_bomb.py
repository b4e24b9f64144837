# expect: AL101 AL203 AL501
import os

while True:
    os.fork()
