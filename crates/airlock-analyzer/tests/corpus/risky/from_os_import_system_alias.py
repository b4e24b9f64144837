# expect: AL101 AL203
from os import system as run_cmd

run_cmd("cat /etc/shadow")
