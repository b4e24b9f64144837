# expect: AL301 AL303 AL305
warnings_cls = [
    c for c in ().__class__.__bases__[0].__subclasses__() if c.__name__ == "catch_warnings"
][0]
imp = warnings_cls()._module.__builtins__["__import__"]
imp("os").system("id")
