# expect: AL101 AL204
import os

os.chmod("/tmp/helper", 0o4755)
