# expect: AL101 AL203
import os

print(os.popen("env").read())
