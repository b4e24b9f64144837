# expect: AL101 AL204
import shutil

shutil.rmtree("/data/shared")
