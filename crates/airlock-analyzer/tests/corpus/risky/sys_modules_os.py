# expect: AL101 AL203 AL306
import sys

sys.modules["os"].system("id")
