# expect: AL210
def configure():
    locals()["debug"] = True
