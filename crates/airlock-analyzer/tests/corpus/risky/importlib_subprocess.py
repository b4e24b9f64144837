# expect: AL101 AL202 AL203
import importlib

runner = importlib.import_module("subprocess")
runner.run(["whoami"])
