# expect: AL101 AL203
def helper():
    import subprocess as s
    return s.check_output(["id"])

helper()
