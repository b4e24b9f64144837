# expect: AL101 AL202 AL401
mod = __import__("{}{}".format("o", "s"))
mod.getcwd()
