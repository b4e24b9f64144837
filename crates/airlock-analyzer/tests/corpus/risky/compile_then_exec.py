# expect: AL201
source = "print('compiled at run time')"
code = compile(source, "<strategy>", "exec")
exec(code)
