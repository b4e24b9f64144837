# expect: AL101 AL203
import subprocess

proc = subprocess.Popen(["bash", "-c", "id; uname -a"], stdout=subprocess.PIPE)
out, _ = proc.communicate()
print(out.decode())
