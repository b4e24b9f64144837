# expect: AL101 AL203
import subprocess as sp

info = sp.check_output("cat /proc/cpuinfo | grep 'model name'", shell=True)
print(info)
