# expect: AL101 AL203
import subprocess

runner = subprocess
go = runner.run
go(["ls", "/"])
