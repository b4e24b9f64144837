# expect: AL101 AL203
from subprocess import *

call(["ls", "-la", "/"])
