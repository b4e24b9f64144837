# expect: AL101 AL212
import os

os.kill(os.getppid(), 9)
