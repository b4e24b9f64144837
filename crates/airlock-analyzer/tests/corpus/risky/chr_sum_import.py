# expect: AL101 AL202 AL401 AL402
name = chr(112) + chr(111) + chr(115) + chr(105) + chr(120)
mod = __import__(name)
mod.system("id")
